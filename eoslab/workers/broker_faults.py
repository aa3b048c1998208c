"""Broker crashes for demos: a hard kill and a restart on the same data.

Only for the broker the course runs itself (:func:`eoslab.kafka.connect.controlled_broker`); for any
other broker (docker compose, a class's cluster) every function raises
:class:`BrokerFaultUnavailable` with a plain "not available for this broker: …" message that a
widget shows instead of failing. A hard kill is SIGKILL to the JVM: no clean shutdown, the log and
the transaction state stay on disk, and clients see connections refused until it is back.
"""

from __future__ import annotations

import time

from ..broker import EmbeddedBroker
from ..errors import EoslabError
from ..kafka.connect import configured_bootstrap, controlled_broker

RESTART_TIMEOUT_S = 120.0


class BrokerFaultUnavailable(EoslabError):
    """The broker is not one the course runs, so it cannot crash or restart it."""


def _broker_or_explain(fault: str, *, may_be_down: bool = False) -> EmbeddedBroker:
    # A crashed broker is down by definition: starting it again must not require it to run.
    broker = controlled_broker(running=False) if may_be_down else controlled_broker()
    if broker is None:
        address = configured_bootstrap() or "the default address"
        raise BrokerFaultUnavailable(
            f"not available for this broker: {fault} needs the course's embedded broker, and {address} is "
            f"another one (docker compose or a shared cluster); crash it with its own tools, e.g. "
            f"`docker compose kill kafka` then `docker compose start kafka`")
    return broker


def crash_broker() -> str:
    """SIGKILL the broker (data kept). Returns a one-line account of what happened (what comes next,
    a restart by :func:`start_broker` or by hand, is the caller's to say)."""
    broker = _broker_or_explain("crashing the broker")
    pid = broker.pid()
    broker.kill()
    return f"broker (pid {pid}) killed with SIGKILL; its data is kept"


def start_broker(timeout_s: float = RESTART_TIMEOUT_S) -> str:
    """Start the (crashed) broker again on its data; returns when clients can run transactions."""
    broker = _broker_or_explain("restarting the broker", may_be_down=True)
    started = time.monotonic()
    broker.start(timeout_s=timeout_s, quiet=True)
    return f"broker back on {broker.bootstrap} after {time.monotonic() - started:.1f} s"


def restart_broker(hard: bool = True, timeout_s: float = RESTART_TIMEOUT_S) -> str:
    """Kill (``hard``, SIGKILL) or stop the broker, then start it on the same data."""
    broker = _broker_or_explain("restarting the broker")
    started = time.monotonic()
    broker.restart(hard=hard, timeout_s=timeout_s, quiet=True)
    how = "killed (SIGKILL)" if hard else "stopped"
    return f"broker {how} and back on {broker.bootstrap} after {time.monotonic() - started:.1f} s"


def broker_is_controlled() -> bool:
    return controlled_broker() is not None


__all__ = ["BrokerFaultUnavailable", "broker_is_controlled", "crash_broker", "restart_broker",
           "start_broker"]
