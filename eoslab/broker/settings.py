"""Where things live and which ports they use, read once from the environment.

Every address and directory the course uses comes from here, so notebooks, the command line and
the tests agree. Everything binds to 127.0.0.1: the course never listens on another interface.

Environment variables (all optional):

``KAFKA_BOOTSTRAP_SERVERS``
    The broker every notebook talks to. Unset: the embedded broker on ``127.0.0.1:9092``.
``EOSLAB_BROKER_PORT``
    The embedded broker's client port (default 9092). It also uses the next three ports: the
    controller (+1), the listener behind the fault proxy (+2) and the fault proxy itself (+3).
``EOSLAB_STATE_DIR``
    The embedded broker's data, logs and pid file (default ``~/.local/state/eoslab/broker``).
``EOSLAB_CLUSTER_PORT``
    The first port of the three-node cluster's block (default 9292; ``eoslab cluster``). Node *i*
    takes ten ports from ``port + 10*(i-1)``: its client port first (so the cluster's bootstrap is
    ``127.0.0.1:9292,127.0.0.1:9302,127.0.0.1:9312``), then one controller and one replication
    listener per peer; the relay of the inter-node links takes the 12 ports after them.
    9292-9333 stays clear of the broker's 9092-9095.
``EOSLAB_CLUSTER_STATE_DIR``
    The cluster's state: one folder per node (default ``~/.local/state/eoslab/cluster``).
``EOSLAB_CACHE_DIR``
    Where the broker jars are cached per Kafka version (default ``~/.cache/eoslab``).
``EOSLAB_PROXY_ADDRESS`` / ``EOSLAB_PROXY_UPSTREAM``
    Where the fault proxy listens and where it forwards to, for a broker the course did not start
    (docker compose). Default: port+3 and port+2 of the broker's port.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

LOOPBACK = "127.0.0.1"
DEFAULT_BROKER_PORT = 9092
PORTS_PER_BROKER = 4  # client, controller, proxied listener, fault proxy
HIGHEST_BROKER_PORT = 65535 - (PORTS_PER_BROKER - 1)


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser() if value else default


def cache_dir() -> Path:
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return _env_path("EOSLAB_CACHE_DIR", base / "eoslab")


def default_state_dir() -> Path:
    xdg = os.environ.get("XDG_STATE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "state"
    return _env_path("EOSLAB_STATE_DIR", base / "eoslab" / "broker")


def default_cluster_state_dir() -> Path:
    xdg = os.environ.get("XDG_STATE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "state"
    return _env_path("EOSLAB_CLUSTER_STATE_DIR", base / "eoslab" / "cluster")


def default_broker_port() -> int:
    raw = os.environ.get("EOSLAB_BROKER_PORT", str(DEFAULT_BROKER_PORT))
    try:
        port = int(raw)
    except ValueError:
        from ..errors import EoslabError

        raise EoslabError(f"EOSLAB_BROKER_PORT={raw!r} is not a port number; set it to e.g. 9192") from None
    if not 1 <= port <= HIGHEST_BROKER_PORT:
        from ..errors import EoslabError

        raise EoslabError(f"EOSLAB_BROKER_PORT={raw} cannot be used: the broker takes it and the next three ports "
                          f"(up to {port + PORTS_PER_BROKER - 1}), and ports end at 65535; set it to a port from "
                          f"1024 to {HIGHEST_BROKER_PORT}, e.g. EOSLAB_BROKER_PORT=9192")
    return port


@dataclass(frozen=True)
class BrokerPorts:
    """The four loopback ports of one embedded broker, derived from its client port."""

    client: int

    def __post_init__(self) -> None:
        if not 1 <= self.client <= HIGHEST_BROKER_PORT:
            from ..errors import EoslabError

            raise EoslabError(
                f"broker port {self.client} cannot be used: the broker takes it and the next three ports "
                f"(up to {self.client + PORTS_PER_BROKER - 1}), and ports end at 65535; use a port from 1024 to "
                f"{HIGHEST_BROKER_PORT}, e.g. EOSLAB_BROKER_PORT=9192 (or --port 9192)")

    @property
    def controller(self) -> int:
        return self.client + 1

    @property
    def proxied(self) -> int:
        """The broker's second listener; only the fault proxy connects here."""
        return self.client + 2

    @property
    def proxy(self) -> int:
        """Where the fault proxy listens; the second listener advertises this port."""
        return self.client + 3

    @property
    def bootstrap(self) -> str:
        return f"{LOOPBACK}:{self.client}"

    def all(self) -> tuple[int, int, int]:
        """The ports the JVM itself binds (the proxy port belongs to the proxy)."""
        return (self.client, self.controller, self.proxied)


DEFAULT_CLUSTER_PORT = 9292
DEFAULT_CLUSTER_NODES = 3
MAX_CLUSTER_NODES = 5


def default_cluster_port() -> int:
    raw = os.environ.get("EOSLAB_CLUSTER_PORT", str(DEFAULT_CLUSTER_PORT))
    try:
        return int(raw)
    except ValueError:
        from ..errors import EoslabError

        raise EoslabError(f"EOSLAB_CLUSTER_PORT={raw!r} is not a port number; set it to e.g. 9392") from None


@dataclass(frozen=True)
class ClusterPorts:
    """Every loopback port of an ``nodes``-node cluster, in one block from ``base``.

    Node *i* (1-based) owns ``stride`` ports from ``base + stride*(i-1)``:

    - ``client(i)``: its PLAINTEXT listener, for clients;
    - ``controller(i, j)``: its controller listener ``CTRL_j``, the one node *j* reaches it on;
    - ``replication(i, j)``: its listener ``REPL_j``, the one node *j* replicates from.

    One listener per peer, so that each link between two nodes has an address of its own and can
    be cut alone. After the nodes' ports come the relay's (see :mod:`eoslab.broker.relay`):
    ``relay_replication(j, i)`` / ``relay_controller(j, i)`` is where node *j*'s traffic to node *i*
    enters the relay. Node *i* advertises those addresses for its ``REPL_j`` and ``CTRL_j``
    listeners, and node *j* names them in its quorum voters, so all inter-node traffic crosses it.
    """

    base: int
    nodes: int = DEFAULT_CLUSTER_NODES

    def __post_init__(self) -> None:
        from ..errors import EoslabError

        if not 1 <= self.nodes <= MAX_CLUSTER_NODES:
            raise EoslabError(f"a cluster of {self.nodes} nodes is not offered; use 1 to {MAX_CLUSTER_NODES} "
                              f"(--nodes 3 is the course's)")
        if not 1024 <= self.base or self.base + self.size > 65536:
            raise EoslabError(f"cluster port {self.base} cannot be used: the cluster takes {self.size} ports from it "
                              f"and ports end at 65535; use a port from 1024 to {65536 - self.size}, "
                              f"e.g. EOSLAB_CLUSTER_PORT=9392 (or --port 9392)")

    @property
    def stride(self) -> int:
        return max(10, 1 + 2 * self.nodes)

    @property
    def size(self) -> int:
        return self.stride * self.nodes + 2 * self.nodes * (self.nodes - 1)

    def ids(self) -> range:
        return range(1, self.nodes + 1)

    def _first(self, node: int) -> int:
        assert node in self.ids(), f"node {node} is not in 1..{self.nodes}"
        return self.base + self.stride * (node - 1)

    def client(self, node: int) -> int:
        return self._first(node)

    def controller(self, node: int, source: int) -> int:
        """Node ``node``'s controller listener that node ``source`` reaches (behind the relay)."""
        assert source in self.ids()
        return self._first(node) + 1 + (source - 1)

    def replication(self, node: int, source: int) -> int:
        """Node ``node``'s listener that node ``source`` fetches from (behind the relay)."""
        assert source in self.ids()
        return self._first(node) + 1 + self.nodes + (source - 1)

    def _link_index(self, source: int, node: int) -> int:
        assert source != node and source in self.ids()
        return (node - 1) * (self.nodes - 1) + [j for j in self.ids() if j != node].index(source)

    def relay_replication(self, source: int, node: int) -> int:
        return self.base + self.stride * self.nodes + 2 * self._link_index(source, node)

    def relay_controller(self, source: int, node: int) -> int:
        return self.relay_replication(source, node) + 1

    def node_ports(self, node: int) -> tuple[int, ...]:
        """The ports node ``node``'s JVM binds."""
        return (self.client(node), *(self.controller(node, j) for j in self.ids()),
                *(self.replication(node, j) for j in self.ids()))

    def relay_ports(self) -> tuple[int, ...]:
        return tuple(port for i in self.ids() for j in self.ids() if j != i
                     for port in (self.relay_replication(j, i), self.relay_controller(j, i)))

    @property
    def bootstrap(self) -> str:
        return ",".join(f"{LOOPBACK}:{self.client(i)}" for i in self.ids())
