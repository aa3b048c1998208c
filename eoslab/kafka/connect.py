"""One way to find the broker, for notebooks, tests and tools: ``KAFKA_BOOTSTRAP_SERVERS``.

- Set: that broker is used as it is (the docker compose one, a class's shared cluster, …). If it
  does not answer within seconds, :class:`~eoslab.errors.BrokerUnavailable` names the address.
- Unset: ``127.0.0.1:9092`` (or ``EOSLAB_BROKER_PORT``). If nothing answers there, the course's
  embedded broker is started, so a notebook works with nothing set up by hand.
"""

from __future__ import annotations

import os
import re
import socket

from ..broker import Cluster, EmbeddedBroker, settings
from ..broker.readiness import answers_metadata, groups_work
from ..errors import BrokerUnavailable, EoslabError

ENV_VAR = "KAFKA_BOOTSTRAP_SERVERS"
#: A three-node cluster the course did not start (docker compose's `cluster` profile).
CLUSTER_ENV_VAR = "EOSLAB_CLUSTER_BOOTSTRAP"
CHECK_TIMEOUT_S = 5.0
_groups_asked: set[str] = set()  # external addresses whose group coordinator this process has asked


#: librdkafka's form for one bootstrap server: [protocol://]host[:port], host a name, IPv4 or [IPv6].
_SERVER = re.compile(r"(?:(?:plaintext|ssl|sasl_plaintext|sasl_ssl)://)?(?P<host>\[[0-9a-fA-F:.]+\]|[^\s:/\[\]]+)"
                     r"(?::(?P<port>\d+))?", re.IGNORECASE)


def configured_bootstrap() -> str | None:
    """``KAFKA_BOOTSTRAP_SERVERS`` if set; a value that is no host:port list is refused at once."""
    value = os.environ.get(ENV_VAR, "").strip()
    if not value:
        return None
    for server in value.split(","):
        match = _SERVER.fullmatch(server.strip())
        if not match or (match["port"] and not 1 <= int(match["port"]) <= 65535):
            raise EoslabError(f"{ENV_VAR}={value!r} is not a list of host:port (at {server.strip()!r}); set it to "
                              f"e.g. 127.0.0.1:9092 (several: a:9092,b:9092), or unset it to use the course's own broker")
    return value


def _unresolvable_hosts(servers: str) -> list[str]:
    hosts = []
    for server in servers.split(","):
        match = _SERVER.fullmatch(server.strip())
        host = match["host"].strip("[]") if match else server
        try:
            socket.getaddrinfo(host, None)
        except (socket.gaierror, UnicodeError):
            hosts.append(host)
    return hosts


def bootstrap(start: bool = True) -> str:
    """Return the bootstrap servers of a broker that answers, starting the embedded one if need be."""
    configured = configured_bootstrap()
    if configured:
        if not answers_metadata(configured, CHECK_TIMEOUT_S):
            unknown = _unresolvable_hosts(configured)
            if unknown and len(unknown) == len(configured.split(",")):
                compose = (" (`kafka` is the broker's name inside docker compose only; from the host use "
                           "127.0.0.1:9092)") if unknown[0] == "kafka" else ""
                raise BrokerUnavailable(f"{ENV_VAR}={configured}: the host name {unknown[0]!r} does not resolve "
                                        f"here{compose}; fix {ENV_VAR}")
            raise BrokerUnavailable(
                f"no Kafka broker answers at {configured} ({ENV_VAR}) within {CHECK_TIMEOUT_S:.0f} s; start it "
                f"(`eoslab broker start` or `docker compose up -d kafka`) or fix {ENV_VAR}")
        if configured not in _groups_asked:
            # A broker the course did not start may be fresh: make the first group request ourselves, so
            # that no assign()ed consumer meets its refusal (eoslab.broker.readiness.groups_work says why).
            groups_work(configured, CHECK_TIMEOUT_S)
            _groups_asked.add(configured)
        return configured
    broker = EmbeddedBroker()
    if broker.is_running() or answers_metadata(broker.bootstrap, 1.5):
        return broker.bootstrap
    if not start:
        raise BrokerUnavailable(f"no Kafka broker answers at {broker.bootstrap}; start one with `eoslab broker start`")
    broker.start()
    return broker.bootstrap


def cluster_bootstrap(start: bool = True) -> str:
    """The bootstrap servers of a three-node cluster that answers, starting the course's own if need be.

    ``EOSLAB_CLUSTER_BOOTSTRAP`` (e.g. docker compose's ``cluster`` profile) is used as it is, once it
    answers; unset, the course's :class:`~eoslab.broker.Cluster` (``EOSLAB_CLUSTER_PORT``) is
    started unless it runs. It never touches the single broker.
    """
    configured = os.environ.get(CLUSTER_ENV_VAR, "").strip()
    if configured:
        if not answers_metadata(configured, CHECK_TIMEOUT_S):
            raise BrokerUnavailable(f"no Kafka cluster answers at {configured} ({CLUSTER_ENV_VAR}) within "
                                    f"{CHECK_TIMEOUT_S:.0f} s; start it (`docker compose --profile cluster up -d`) "
                                    f"or unset {CLUSTER_ENV_VAR} to use the course's own (`eoslab cluster start`)")
        return configured
    cluster = Cluster()
    if cluster.is_running() and cluster.relay_pid() is not None:
        return cluster.bootstrap
    if not start:
        raise BrokerUnavailable(f"the course's cluster ({cluster.bootstrap}) is not running; "
                                f"start it with `eoslab cluster start`")
    # A node may be down because a demo or a grading run killed it on purpose: wait for that to end
    # (it puts the node back) instead of starting the node in the middle of the fault.
    with cluster.exclusive():
        if not (cluster.is_running() and cluster.relay_pid() is not None):
            cluster.start()
    return cluster.bootstrap


#: What a fault on the cluster says when the course does not run the cluster it talks to.
CLUSTER_FAULTS_UNAVAILABLE = (f"the cluster at {CLUSTER_ENV_VAR} is not one the course runs, so it cannot kill or pause "
                              f"its nodes; unset {CLUSTER_ENV_VAR} and run `eoslab cluster start` (Java 17) to use the "
                              f"course's own, or break the nodes yourself (`docker compose kill kafka-1`)")


def controlled_cluster() -> Cluster | None:
    """The three-node cluster behind :func:`cluster_bootstrap`, if the course runs it (started if need be).

    None when ``EOSLAB_CLUSTER_BOOTSTRAP`` names another cluster (docker compose's ``cluster``
    profile): its nodes cannot be killed from here, and fault demos say so
    (:data:`CLUSTER_FAULTS_UNAVAILABLE`) instead of failing."""
    if os.environ.get(CLUSTER_ENV_VAR, "").strip():
        cluster_bootstrap()  # it must answer, or the learner hears why
        return None
    cluster_bootstrap()
    return Cluster()


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
    """(listen, upstream) of the fault proxy for the current broker; see :mod:`eoslab.broker.settings`."""
    ports = settings.BrokerPorts(settings.default_broker_port())
    listen = os.environ.get("EOSLAB_PROXY_ADDRESS", f"{settings.LOOPBACK}:{ports.proxy}")
    upstream = os.environ.get("EOSLAB_PROXY_UPSTREAM", f"{settings.LOOPBACK}:{ports.proxied}")
    return listen, upstream
