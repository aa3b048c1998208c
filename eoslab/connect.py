"""One way to find the broker, for notebooks, tests and tools: ``KAFKA_BOOTSTRAP_SERVERS``.

- Set: that broker is used as it is (the docker compose one, a class's shared cluster, …). If it
  does not answer within seconds, :class:`~eoslab.errors.BrokerUnavailable` names the address.
- Unset: ``127.0.0.1:9092`` (or ``EOSLAB_BROKER_PORT``). If nothing answers there, the course's
  embedded broker is started, so a notebook works with nothing set up by hand.
"""

from __future__ import annotations

import os

from . import settings
from .broker import EmbeddedBroker
from .errors import BrokerUnavailable
from .readiness import answers_metadata

ENV_VAR = "KAFKA_BOOTSTRAP_SERVERS"
CHECK_TIMEOUT_S = 5.0


def configured_bootstrap() -> str | None:
    value = os.environ.get(ENV_VAR, "").strip()
    return value or None


def bootstrap(start: bool = True) -> str:
    """Return the bootstrap servers of a broker that answers, starting the embedded one if need be."""
    configured = configured_bootstrap()
    if configured:
        if not answers_metadata(configured, CHECK_TIMEOUT_S):
            raise BrokerUnavailable(
                f"no Kafka broker answers at {configured} ({ENV_VAR}) within {CHECK_TIMEOUT_S:.0f} s; start it "
                f"(`eoslab broker start` or `docker compose up -d kafka`) or fix {ENV_VAR}")
        return configured
    broker = EmbeddedBroker()
    if broker.is_running() or answers_metadata(broker.bootstrap, 1.5):
        return broker.bootstrap
    if not start:
        raise BrokerUnavailable(f"no Kafka broker answers at {broker.bootstrap}; start one with `eoslab broker start`")
    broker.start()
    return broker.bootstrap


def controlled_broker(*, running: bool = True) -> EmbeddedBroker | None:
    """The embedded broker behind the current bootstrap address, if the course runs it.

    Faults such as a hard broker restart need a broker the course controls; for another broker
    (docker compose, a shared cluster) this returns None and widgets say so instead of failing.
    ``running=False`` finds it also while it is down (a crashed broker, to start it again).
    """
    broker = EmbeddedBroker()
    configured = configured_bootstrap()
    if configured and configured not in (broker.bootstrap, f"localhost:{broker.ports.client}"):
        return None
    return broker if broker.is_running() or not running else None


def proxy_addresses() -> tuple[str, str]:
    """(listen, upstream) of the fault proxy for the current broker; see :mod:`eoslab.settings`."""
    ports = settings.BrokerPorts(settings.default_broker_port())
    listen = os.environ.get("EOSLAB_PROXY_ADDRESS", f"{settings.LOOPBACK}:{ports.proxy}")
    upstream = os.environ.get("EOSLAB_PROXY_UPSTREAM", f"{settings.LOOPBACK}:{ports.proxied}")
    return listen, upstream
