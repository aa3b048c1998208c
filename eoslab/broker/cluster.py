"""A KRaft cluster of three Apache Kafka nodes on loopback, for replication and failover demos.

    from eoslab.broker import Cluster
    cluster = Cluster()                 # ports from EOSLAB_CLUSTER_PORT (default 9292), state dir below
    cluster.start()                     # returns once a transaction commits on an RF=3 topic
    cluster.leader_of("orders", 0)      # 2
    cluster.kill(2)                     # SIGKILL the leader; cluster.restart(2) brings it back
    cluster.isolate(3, seconds=10)      # cut node 3's replication and controller links both ways
    cluster.replica_offsets("orders", 0)  # each replica's log end offset, and the high watermark
    cluster.stop()

What it guarantees:

- Every node is broker *and* controller (the quorum is all nodes), runs from the same cached jars
  as the single broker (:class:`~eoslab.broker.node.EmbeddedBroker` does the work: each node is
  one, configured by :func:`~eoslab.broker.properties.cluster_node_properties`), listens on
  127.0.0.1 only, and keeps its data, logs and pid file in ``<state dir>/node-<id>``.
- ``start()`` returns only when every node is in the metadata and a transaction commits on a topic
  with three replicas and ``min.insync.replicas=2``; a node that dies during start is named with
  its last log line, within seconds. Every wait has a deadline.
- Inter-node traffic (replication and the controllers' quorum) crosses the cluster's relay
  (:mod:`eoslab.broker.relay`), so :meth:`Cluster.isolate` can cut one node off both ways for a
  bounded time; stopping the cluster ends every cut.
- It runs beside the single broker (other ports, other state dir).

What it does not do: survive a machine reboot's lost page cache differently from Kafka (a SIGKILL
keeps what the node wrote to its files), or listen anywhere but 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

from ..errors import EoslabError
from . import jars, java, properties, settings
from .netutil import describe_listener
from .node import START_TIMEOUT_S, STOP_TIMEOUT_S, EmbeddedBroker, _new_cluster_id, state_lock
from .readiness import answers_metadata, broker_count, wait_until_cluster_ready
from .relay import MAX_CUT_S, applied_sequence
from .segments import log_end_offset
from .settings import LOOPBACK, ClusterPorts

#: How long :meth:`Cluster.exclusive` waits for another holder (a demo lasts under a minute).
FAULTS_LOCK_TIMEOUT_S = 300.0

RELAY_SCRIPT = Path(__file__).with_name("relay.py")
RELAY_START_TIMEOUT_S = 10.0
CUT_APPLY_TIMEOUT_S = 5.0
#: Below this much free memory per node, start refuses with a message rather than letting the
#: kernel kill a node half-way (a node's heap is capped at 256 MB; it settles near 300 MB RSS).
MIN_MEMORY_PER_NODE_MB = 250
DESCRIBE_TIMEOUT_S = 10.0
SIGNAL_TIMEOUT_S = 5.0
NEW_TOPIC_GRACE_S = 5.0


class ClusterNode(EmbeddedBroker):
    """One node of a :class:`Cluster`: an :class:`EmbeddedBroker` with the cluster's configuration."""

    kind = "cluster node"
    command = "cluster"
    jvm_options = properties.CLUSTER_JVM_OPTIONS

    def __init__(self, ports: ClusterPorts, node_id: int, state_dir: Path) -> None:
        super().__init__(state_dir=state_dir, port=ports.client(node_id))
        self.cluster_ports = ports
        self.node_id = node_id

    def server_properties(self) -> dict[str, str]:
        return properties.cluster_node_properties(self.cluster_ports, self.node_id, self.data_dir)

    def bound_ports(self) -> tuple[int, ...]:
        return self.cluster_ports.node_ports(self.node_id)

    def port_advice(self) -> str:
        other = self.cluster_ports.base + 100
        return f"use another block of ports: EOSLAB_CLUSTER_PORT={other} eoslab cluster start"

    def is_paused(self) -> bool:
        pid = self.pid()
        try:
            return pid is not None and psutil.Process(pid).status() == psutil.STATUS_STOPPED
        except psutil.Error:
            return False

    def format_failure(self, output: str) -> str:
        return f"node {self.node_id}: {super().format_failure(output)}"


@dataclass(frozen=True)
class NodeStatus:
    id: int
    pid: int | None
    port: int
    running: bool
    paused: bool = False


@dataclass(frozen=True)
class ClusterStatus:
    bootstrap: str
    nodes: list[NodeStatus]
    state_dir: Path = field(compare=False)
    relay_pid: int | None = None
    isolated: dict[int, float] = field(default_factory=dict)

    @property
    def running(self) -> bool:
        return all(node.running for node in self.nodes)

    def to_dict(self) -> dict[str, Any]:
        """``{"bootstrap": "h:p,…", "nodes": [{"id", "pid", "port", "running", "paused"}, …]}``."""
        return {"bootstrap": self.bootstrap, "nodes": [asdict(node) for node in self.nodes]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    def describe(self) -> str:
        up = sum(node.running for node in self.nodes)
        lines = [f"Apache Kafka {jars.KAFKA_VERSION} cluster: {up} of {len(self.nodes)} nodes running",
                 f"  bootstrap servers: {self.bootstrap}", f"  state dir:         {self.state_dir}"]
        for node in self.nodes:
            state = (f"paused (pid {node.pid})" if node.paused else f"running (pid {node.pid})" if node.running
                     else "stopped")
            cut = f", isolated for {self.isolated[node.id]:.0f} s more" if node.id in self.isolated else ""
            lines.append(f"  node {node.id}: 127.0.0.1:{node.port} {state}{cut}")
        if up and self.relay_pid is None:
            lines.append("  the relay between the nodes is not running: replication is cut; "
                         "`eoslab cluster stop` then `eoslab cluster start`")
        return "\n".join(lines)


@dataclass(frozen=True)
class ReplicaOffsets:
    """Where each replica's log ends (read from its files, so a dead node's too) and the high watermark."""

    topic: str
    partition: int
    log_end: dict[int, int | None]   # node id -> log end offset (None: no replica there)
    high_watermark: int | None       # from the leader; None when no leader answers
    leader: int | None
    isr: list[int]


class Cluster:
    """The course's cluster. Cheap to construct: it only names paths and ports."""

    def __init__(self, state_dir: Path | str | None = None, base_port: int | None = None,
                 nodes: int | None = None) -> None:
        self.state_dir = Path(state_dir).expanduser() if state_dir else settings.default_cluster_state_dir()
        self.layout_file = self.state_dir / "cluster.json"
        if nodes is None:
            nodes = self._recorded().get("nodes", settings.DEFAULT_CLUSTER_NODES)
        self.ports = ClusterPorts(base_port if base_port is not None else settings.default_cluster_port(), int(nodes))
        self.nodes = [ClusterNode(self.ports, i, self.state_dir / f"node-{i}") for i in self.ports.ids()]
        self.relay_dir = self.state_dir / "relay"
        self.relay_spec = self.relay_dir / "spec.json"
        self.relay_pid_file = self.relay_dir / "relay.pid"
        self.relay_log = self.relay_dir / "relay.log"
        self.cuts_file = self.relay_dir / "cuts.json"
        self.cluster_id_file = self.state_dir / "cluster.id"

    def _recorded(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self.layout_file.read_text()))
        except (OSError, ValueError, TypeError):
            return {}

    @property
    def bootstrap(self) -> str:
        return self.ports.bootstrap

    def node(self, node_id: int) -> ClusterNode:
        if not isinstance(node_id, int) or not 1 <= node_id <= len(self.nodes):
            raise EoslabError(f"there is no node {node_id}: the cluster's nodes are 1 to {len(self.nodes)}")
        return self.nodes[node_id - 1]

    # ---- state -----------------------------------------------------------------------------

    def relay_pid(self) -> int | None:
        try:
            pid = int(self.relay_pid_file.read_text().strip())
            process = psutil.Process(pid)
            if process.status() == psutil.STATUS_ZOMBIE:
                return None
            return pid if str(self.relay_spec) in process.cmdline() else None
        except (OSError, ValueError, psutil.Error):
            return None

    @contextlib.contextmanager
    def exclusive(self, timeout_s: float = FAULTS_LOCK_TIMEOUT_S) -> Iterator[None]:
        """Hold ``faults.lock`` in the state dir while nodes are broken on purpose, or started.

        A demo or a grading run that kills, pauses or cuts nodes holds it for as long as it does, so
        another one (a panel click, a second grading run, a test process) waits instead of breaking
        the same nodes at once, and :func:`eoslab.cluster` does not start a node a demo killed on
        purpose. Not re-entrant: take it once per operation."""
        with state_lock(self.state_dir, timeout_s, "cluster", name="faults.lock", poll_s=0.5,
                        busy=f"another demo or grading run has been breaking the cluster for {timeout_s:.0f} s; "
                             f"wait until it ends, then try again (`eoslab cluster status` shows its nodes)"):
            yield

    def is_running(self) -> bool:
        """True when every node runs (paused counts as running: the process is there)."""
        return all(node.is_running() for node in self.nodes)

    def status(self) -> ClusterStatus:
        nodes = []
        for node in self.nodes:
            pid = node.pid()
            nodes.append(NodeStatus(node.node_id, pid, node.ports.client, pid is not None, node.is_paused()))
        return ClusterStatus(self.bootstrap, nodes, self.state_dir, self.relay_pid(), self.isolated())

    def logs(self, node_id: int, lines: int = 40) -> list[str]:
        return self.node(node_id).log_tail(lines)

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self, fresh: bool = False, timeout_s: float = START_TIMEOUT_S, quiet: bool = True) -> bool:
        """Start every node that is not running, and wait until a transaction commits on an RF=3
        topic. Returns False if the whole cluster was already running (and ready)."""
        with state_lock(self.state_dir, timeout_s, "cluster"):
            running = [node for node in self.nodes if node.is_running()]
            if fresh and (running or self.relay_pid()):
                raise EoslabError(f"the cluster in {self.state_dir} is running; `eoslab cluster stop` before --fresh")
            if len(running) == len(self.nodes) and self.relay_pid():
                self._wait_ready(timeout_s, {})
                return False
            self._start_unlocked(fresh, timeout_s, quiet, [n for n in self.nodes if n not in running])
            return True

    def _start_unlocked(self, fresh: bool, timeout_s: float, quiet: bool, missing: list[ClusterNode]) -> None:
        started = time.monotonic()
        java_bin = java.find_java()
        libs = jars.find_libs(quiet=quiet)
        self._check_memory(len(missing))
        if fresh:
            self.cluster_id_file.unlink(missing_ok=True)
        cluster_id = self._cluster_id(fresh)
        relay_needed = self.relay_pid() is None
        if relay_needed:
            self._check_relay_ports()
        formats = [(node, node.prepare(java_bin, libs, fresh=fresh, cluster_id=cluster_id)) for node in missing]
        self.layout_file.write_text(json.dumps({"nodes": len(self.nodes), "base_port": self.ports.base}) + "\n")
        if relay_needed:
            self._start_relay()
        self._format([(node, command) for node, command in formats if command])
        processes = {node.node_id: node.launch(java_bin, libs) for node in missing}
        if not quiet:
            print(f"Starting a {len(self.nodes)}-node Apache Kafka {jars.KAFKA_VERSION} cluster on {self.bootstrap} "
                  f"(state in {self.state_dir})…", flush=True)
        try:
            self._wait_ready(timeout_s - (time.monotonic() - started), processes)
        except EoslabError:
            self.stop()
            raise
        if not quiet:
            print(f"Cluster ready on {self.bootstrap} after {time.monotonic() - started:.1f} s.", flush=True)

    def _wait_ready(self, timeout_s: float, processes: dict[int, subprocess.Popen[bytes]]) -> None:
        dead: list[int] = []

        def all_alive() -> bool:
            dead.extend(i for i, process in processes.items() if process.poll() is not None)
            dead.extend(node.node_id for node in self.nodes if node.node_id not in processes and not node.is_running())
            return not dead

        if wait_until_cluster_ready(self.bootstrap, len(self.nodes), max(1.0, timeout_s), still_starting=all_alive):
            return
        if dead:
            node = self.node(dead[0])
            code = processes[node.node_id].poll() if node.node_id in processes else None
            how = f" with code {code}" if code is not None else ""
            raise EoslabError(f"cluster node {node.node_id} exited during start{how}: {node.last_problem()}; "
                              f"full log: {node.server_log} (`eoslab cluster logs {node.node_id}`)")
        raise EoslabError(f"the cluster did not become ready within {timeout_s:.0f} s (node 1: "
                          f"{self.nodes[0].last_problem()}); see `eoslab cluster logs N`, or start afresh with "
                          f"`eoslab cluster stop && eoslab cluster start --fresh`")

    def _cluster_id(self, fresh: bool) -> str:
        if not fresh:
            for node in self.nodes:  # a formatted node's id wins: the others must join the same cluster
                meta = node.data_dir / "meta.properties"
                if meta.is_file():
                    for line in meta.read_text().splitlines():
                        if line.startswith("cluster.id="):
                            return line.split("=", 1)[1].strip()
            if self.cluster_id_file.is_file():
                return self.cluster_id_file.read_text().strip()
        cluster_id = _new_cluster_id()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.cluster_id_file.write_text(cluster_id + "\n")
        return cluster_id

    def _format(self, formats: list[tuple[ClusterNode, list[str]]]) -> None:
        """Format the nodes' storage side by side (one short JVM each)."""
        running = [(node, subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
                   for node, command in formats]
        failure = None
        for node, process in running:
            try:
                output, _ = process.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                output = "timed out after 60 s"
            if process.returncode != 0 and failure is None:
                failure = node.format_failure(output)
        if failure:
            self._stop_relay()
            raise EoslabError(failure)

    @staticmethod
    def _available_memory_mb() -> float:
        available = psutil.virtual_memory().available
        try:  # a container's limit (Binder) is lower than what the host has free
            limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
            if limit != "max":
                used = int(Path("/sys/fs/cgroup/memory.current").read_text().strip())
                available = min(available, int(limit) - used)
        except (OSError, ValueError):
            pass
        return available / 2**20

    def _check_memory(self, nodes: int) -> None:
        needed = nodes * MIN_MEMORY_PER_NODE_MB
        available = self._available_memory_mb()
        if nodes and available < needed:
            raise EoslabError(f"not enough memory for {nodes} cluster node(s): {available:.0f} MB free, about "
                              f"{needed} MB needed; stop what you do not need (`eoslab broker stop`, other "
                              f"notebooks' kernels) or start fewer nodes (`eoslab cluster start --nodes 1`)")

    def _check_relay_ports(self) -> None:
        probe_node = self.nodes[0]
        for port in self.ports.relay_ports():
            with socket.socket() as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe.bind((LOOPBACK, port))
                except OSError:
                    raise EoslabError(f"port {port} on {LOOPBACK} is in use{describe_listener(port)}, not by the "
                                      f"course's cluster; stop that program, or {probe_node.port_advice()}") from None

    # ---- the relay ---------------------------------------------------------------------------

    def _links(self) -> list[dict[str, Any]]:
        links = []
        for target in self.ports.ids():
            for source in self.ports.ids():
                if source == target:
                    continue
                links.append({"name": f"replication {source}->{target}", "source": source, "target": target,
                              "listen": self.ports.relay_replication(source, target),
                              "upstream": self.ports.replication(target, source)})
                links.append({"name": f"controller {source}->{target}", "source": source, "target": target,
                              "listen": self.ports.relay_controller(source, target),
                              "upstream": self.ports.controller(target, source)})
        return links

    def _start_relay(self) -> None:
        self.relay_dir.mkdir(parents=True, exist_ok=True)
        ready = self.relay_dir / "ready"
        ready.unlink(missing_ok=True)
        self.cuts_file.unlink(missing_ok=True)
        self.relay_spec.write_text(json.dumps({"links": self._links(), "cuts_file": str(self.cuts_file),
                                               "ready_file": str(ready)}, indent=1))
        with open(self.relay_log, "wb") as log:
            process = subprocess.Popen([sys.executable, str(RELAY_SCRIPT), str(self.relay_spec)],
                                       stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                       cwd=self.relay_dir, start_new_session=True)
        self.relay_pid_file.write_text(f"{process.pid}\n")
        deadline = time.monotonic() + RELAY_START_TIMEOUT_S
        while not ready.is_file():
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                tail = self.relay_log.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
                raise EoslabError(f"the cluster's relay did not start: {tail[0][:300]}; "
                                  f"see {self.relay_log}")
            time.sleep(0.05)

    def _stop_relay(self) -> None:
        pid = self.relay_pid()
        if pid is not None:
            EmbeddedBroker._signal_and_wait(pid, signal.SIGTERM, 5) or EmbeddedBroker._signal_and_wait(
                pid, signal.SIGKILL, 5)
        self.relay_pid_file.unlink(missing_ok=True)
        self.cuts_file.unlink(missing_ok=True)

    # ---- stop and faults ---------------------------------------------------------------------

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> bool:
        """Stop every node (side by side, SIGKILL after ``timeout_s``), then the relay, ending every
        cut. False if nothing was running."""
        running = [node for node in self.nodes if node.is_running()]
        for node in running:
            self._signal(node, signal.SIGCONT)  # a paused JVM cannot run its shutdown
        if running:
            with ThreadPoolExecutor(len(running)) as pool:
                list(pool.map(lambda node: node.stop(timeout_s), running))
        relay = self.relay_pid() is not None
        self._stop_relay()
        return bool(running) or relay

    def kill(self, node_id: int) -> bool:
        """SIGKILL node ``node_id``: no clean shutdown, its files kept. False if it was not running."""
        return self.node(node_id).kill()

    def restart(self, node_id: int, hard: bool = False, timeout_s: float = START_TIMEOUT_S) -> None:
        """Stop (``hard``: SIGKILL) node ``node_id`` if it runs, start it again on its data, and wait
        until it answers and the cluster's metadata lists it."""
        node = self.node(node_id)
        if hard:
            node.kill()
        elif node.is_running():
            self._signal(node, signal.SIGCONT)
            node.stop()
        if self.relay_pid() is None:
            raise EoslabError("the cluster's relay is not running; `eoslab cluster stop` then `eoslab cluster start`")
        with state_lock(self.state_dir, timeout_s, "cluster"):
            java_bin = java.find_java()
            libs = jars.find_libs(quiet=True)
            self._check_memory(1)
            command = node.prepare(java_bin, libs, cluster_id=self._cluster_id(False))
            if command:
                self._format([(node, command)])
            process = node.launch(java_bin, libs)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if process.poll() is not None:
                node.pid_file.unlink(missing_ok=True)
                raise EoslabError(f"cluster node {node_id} exited during start with code {process.poll()}: "
                                  f"{node.last_problem()}; full log: {node.server_log}")
            if answers_metadata(node.bootstrap, 1.0) and broker_count(node.bootstrap, 2.0) >= 1 \
                    and node_id in self._registered_brokers():
                return
            time.sleep(0.2)
        raise EoslabError(f"cluster node {node_id} did not come back within {timeout_s:.0f} s "
                          f"({node.last_problem()}); see `eoslab cluster logs {node_id}`")

    def _registered_brokers(self) -> set[int]:
        from confluent_kafka.admin import AdminClient

        from ..clientlog import client_logger

        try:
            metadata = AdminClient({"bootstrap.servers": self.bootstrap, "logger": client_logger}).list_topics(timeout=2)
            return set(metadata.brokers)
        except Exception:  # noqa: BLE001 - not answering counts as none
            return set()

    def pause(self, node_id: int) -> None:
        """SIGSTOP node ``node_id``: it holds its connections and answers nothing (a long GC pause).
        Returns once the kernel has stopped it."""
        node = self._running(node_id)
        self._signal(node, signal.SIGSTOP)
        self._wait_paused(node, True)

    def resume(self, node_id: int) -> None:
        """SIGCONT a paused node; returns once it runs again."""
        node = self._running(node_id)
        self._signal(node, signal.SIGCONT)
        self._wait_paused(node, False)

    @staticmethod
    def _wait_paused(node: ClusterNode, paused: bool) -> None:
        deadline = time.monotonic() + SIGNAL_TIMEOUT_S
        while node.is_paused() != paused:
            if time.monotonic() > deadline:
                raise EoslabError(f"cluster node {node.node_id} is still {'running' if paused else 'paused'} "
                                  f"{SIGNAL_TIMEOUT_S:.0f} s after the signal; see `eoslab cluster status`")
            time.sleep(0.02)

    def _running(self, node_id: int) -> ClusterNode:
        node = self.node(node_id)
        if not node.is_running():
            raise EoslabError(f"cluster node {node_id} is not running; `eoslab cluster restart {node_id}` starts it")
        return node

    @staticmethod
    def _signal(node: ClusterNode, sig: signal.Signals) -> None:
        pid = node.pid()
        if pid is not None:
            try:
                psutil.Process(pid).send_signal(sig)
            except psutil.NoSuchProcess:
                pass

    def isolate(self, node_id: int, seconds: float) -> None:
        """Cut node ``node_id``'s replication and controller links, both ways, for ``seconds``
        (at most :data:`~eoslab.broker.relay.MAX_CUT_S`). Returns once the cut is in force; it
        ends by itself. Clients still reach the node directly."""
        self.node(node_id)
        if not 0 < seconds <= MAX_CUT_S:
            raise EoslabError(f"isolate for {seconds} s is not offered; every cut is bounded: use 0 < seconds <= "
                              f"{MAX_CUT_S:.0f}")
        now = time.time()
        cuts = {node: until for node, until in self._cuts().items() if until > now}
        cuts[node_id] = now + seconds
        self._write_cuts(cuts)

    def heal(self, node_id: int | None = None) -> None:
        """End the cut of ``node_id`` (every cut if None) now."""
        cuts = {} if node_id is None else {n: u for n, u in self._cuts().items() if n != node_id}
        self._write_cuts(cuts)

    def isolated(self) -> dict[int, float]:
        """{node id: seconds left} for every node cut off now."""
        now = time.time()
        return {node: until - now for node, until in self._cuts().items() if until > now} if self.relay_pid() else {}

    def _cuts(self) -> dict[int, float]:
        try:
            return {int(n): float(u) for n, u in json.loads(self.cuts_file.read_text()).get("cuts", {}).items()}
        except (OSError, ValueError, TypeError, AttributeError):
            return {}

    def _write_cuts(self, cuts: dict[int, float]) -> None:
        if self.relay_pid() is None:
            raise EoslabError("the cluster is not running (no relay); `eoslab cluster start` first")
        applied = Path(f"{self.cuts_file}.applied")
        sequence = max(applied_sequence(applied), 0) + 1
        staging = self.cuts_file.with_suffix(".tmp")
        staging.write_text(json.dumps({"sequence": sequence, "cuts": {str(n): u for n, u in cuts.items()}}))
        staging.replace(self.cuts_file)
        deadline = time.monotonic() + CUT_APPLY_TIMEOUT_S
        while applied_sequence(applied) < sequence:
            if time.monotonic() > deadline:
                raise EoslabError(f"the cluster's relay did not apply the cut within {CUT_APPLY_TIMEOUT_S:.0f} s; "
                                  f"see {self.relay_log}")
            time.sleep(0.02)

    # ---- what the partitions look like -------------------------------------------------------

    def _witnesses(self) -> list[ClusterNode]:
        """The nodes whose metadata to trust, best first: running, neither paused nor cut off.

        A node cut off from the controllers (or paused) still answers clients, from its last
        picture of the cluster: it would report the ISR and leader of before the fault."""
        cut = set(self.isolated())
        running = [node for node in self.nodes if node.is_running()]
        healthy = [node for node in running if node.node_id not in cut and not node.is_paused()]
        return healthy or running or list(self.nodes)

    def _describe(self, topic: str, partition: int) -> Any:
        """The partition's metadata (leader, replicas, ISR) as a healthy node has it.

        A metadata request to one node (:meth:`_witnesses`), not DescribeTopics: librdkafka sends
        the latter to the node the metadata calls the controller, which may be the very node a
        demo just killed."""
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import AdminClient

        from ..clientlog import client_logger

        witnesses = self._witnesses()
        # A topic just created may be unknown to the node asked for a moment: ask again, briefly.
        deadline = time.monotonic() + NEW_TOPIC_GRACE_S
        attempt = 0
        while True:
            witness = witnesses[attempt % len(witnesses)]
            attempt += 1
            admin = AdminClient({"bootstrap.servers": witness.bootstrap, "logger": client_logger})
            try:
                metadata = admin.list_topics(topic, timeout=DESCRIBE_TIMEOUT_S / 2)
            except KafkaException as error:
                if attempt < len(witnesses):
                    continue
                raise EoslabError(f"no cluster node answers for topic {topic!r} within {DESCRIBE_TIMEOUT_S:.0f} s "
                                  f"({error.args[0].str()}); is the cluster running (`eoslab cluster status`)?"
                                  ) from None
            found = metadata.topics.get(topic)
            if found is not None and (found.error is None or found.partitions):
                break
            if time.monotonic() > deadline:
                raise EoslabError(f"the cluster has no topic {topic!r}; create it first")
            time.sleep(0.1)
        if partition not in found.partitions:
            raise EoslabError(f"topic {topic!r} has no partition {partition} (it has {len(found.partitions)})")
        return found.partitions[partition]

    def leader_of(self, topic: str, partition: int = 0) -> int | None:
        """The node id leading the partition, or None while it has no leader."""
        leader = self._describe(topic, partition).leader
        return leader if leader >= 0 else None

    def isr_of(self, topic: str, partition: int = 0) -> list[int]:
        """The node ids in the partition's in-sync replica set, as the controller has it."""
        return sorted(self._describe(topic, partition).isrs)

    def replicas_of(self, topic: str, partition: int = 0) -> list[int]:
        return list(self._describe(topic, partition).replicas)

    def high_watermark(self, topic: str, partition: int = 0, timeout_s: float = 5.0) -> int | None:
        """The partition's high watermark as its leader reports it (None when no leader answers)."""
        from confluent_kafka import KafkaException, TopicPartition
        from confluent_kafka.admin import AdminClient, OffsetSpec

        from ..clientlog import client_logger

        # Bootstrapped on a healthy node, so the leader it names is the cluster's, not a cut-off node's.
        admin = AdminClient({"bootstrap.servers": self._witnesses()[0].bootstrap, "logger": client_logger})
        tp = TopicPartition(topic, partition)
        try:
            result = admin.list_offsets({tp: OffsetSpec.latest()}, request_timeout=timeout_s)[tp].result(
                timeout=timeout_s + 1)
            return int(result.offset)
        except (KafkaException, Exception):  # noqa: BLE001 - no leader: no high watermark to report
            return None

    def replica_offsets(self, topic: str, partition: int = 0) -> ReplicaOffsets:
        """Each node's log end offset for the partition, read from its own files (so a killed or
        cut-off node's too), with the leader's high watermark, the leader and the ISR."""
        log_end = {node.node_id: log_end_offset(node.data_dir / f"{topic}-{partition}") for node in self.nodes}
        try:
            info = self._describe(topic, partition)
            leader = info.leader if info.leader >= 0 else None
            isr = sorted(info.isrs)
        except EoslabError:
            leader, isr = None, []
        high = self.high_watermark(topic, partition) if leader is not None else None
        return ReplicaOffsets(topic, partition, log_end, high, leader, isr)


def default_cluster() -> Cluster:
    return Cluster()
