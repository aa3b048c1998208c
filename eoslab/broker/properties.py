"""The broker's configuration: one KRaft node (broker and controller) on loopback, or a cluster's nodes.

Every setting here is one a learner's single-broker (or three-node) set-up needs; the reason stands beside it.
"""

from __future__ import annotations

from pathlib import Path

from .settings import LOOPBACK, BrokerPorts, ClusterPorts

# Kept small: Binder gives about 2 GB for the broker, JupyterLab and a kernel together.
# bench/broker_startup.py measures the resulting peak RSS.
JVM_HEAP = ["-Xms96m", "-Xmx384m"]
# A cluster node's heap: three of them, JupyterLab and a kernel must fit the same 2 GB
# (bench/cluster.py measures each node's RSS).
CLUSTER_JVM_HEAP = ["-Xms64m", "-Xmx256m"]
JVM_COMMON = [
    # C1 only, no C2: the course's brokers run short, light workloads on a shared 2-core machine,
    # where C2's compilations cost more CPU than its faster code saves. Measured (issue 18, loaded
    # machine): CPU to ready 4.8 -> 1.4 s for one broker, 10.9 -> 5.2 s for the three nodes
    # together; broker CPU for 300,000 idempotent records 0.7-1.0 -> 0.2-0.3 s; ~30 MB less RSS.
    "-XX:TieredStopAtLevel=1",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
]
JVM_OPTIONS = [*JVM_HEAP, *JVM_COMMON]
CLUSTER_JVM_OPTIONS = [*CLUSTER_JVM_HEAP, *JVM_COMMON]

#: How long a follower may lag before the leader drops it from the ISR (Kafka's default is 30 s;
#: the cluster's demos and tests want an isolated follower out of the ISR within seconds).
CLUSTER_REPLICA_LAG_MS = 5000
#: A node that sends no heartbeat for this long is fenced by the controller and loses its
#: leaderships (Kafka's default is 9 s): a killed leader is replaced within about 6 s.
CLUSTER_SESSION_TIMEOUT_MS = 6000


def _common_properties(data_dir: Path) -> dict[str, str]:
    """Settings every course node has, one broker or a cluster's."""
    return {
        "log.dirs": str(data_dir),
        "num.partitions": "1",
        # Fewer partitions for the internal topics: they are created on first use, and 50 of each
        # (the default) costs seconds on a 2-core machine for no benefit here.
        "offsets.topic.num.partitions": "5",
        "transaction.state.log.num.partitions": "5",
        # Consumers join a group at once instead of waiting 3 s for others.
        "group.initial.rebalance.delay.ms": "0",
        # The coordinator looks for timed-out transactions every second (default 10 s), so a
        # stalled transaction is aborted within seconds of its transaction.timeout.ms in demos.
        "transaction.abort.timed.out.transaction.cleanup.interval.ms": "1000",
        "auto.create.topics.enable": "true",
    }


def server_properties(ports: BrokerPorts, data_dir: Path) -> dict[str, str]:
    return {
        # One JVM is both broker and controller (KRaft combined mode): no ZooKeeper in Kafka 4.
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{LOOPBACK}:{ports.controller}",
        "controller.listener.names": "CONTROLLER",
        # PLAINTEXT is for clients. PROXIED is the same broker behind the course's fault proxy: it
        # advertises the proxy's port, so a client bootstrapped there sends *all* its requests
        # (metadata, produce, fetch, coordinator) through the proxy, while others stay direct.
        "listeners": (f"PLAINTEXT://{LOOPBACK}:{ports.client},CONTROLLER://{LOOPBACK}:{ports.controller},"
                      f"PROXIED://{LOOPBACK}:{ports.proxied}"),
        "advertised.listeners": f"PLAINTEXT://{LOOPBACK}:{ports.client},PROXIED://{LOOPBACK}:{ports.proxy}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,PROXIED:PLAINTEXT",
        "inter.broker.listener.name": "PLAINTEXT",
        **_common_properties(data_dir),
        # The internal topics default to replication factor 3; with one broker, init_transactions()
        # and consumer-group joins wait forever for replicas that will never exist.
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
    }


def cluster_node_properties(ports: ClusterPorts, node: int, data_dir: Path) -> dict[str, str]:
    """Node ``node`` of a KRaft cluster whose every node is broker and controller.

    Each node has, on every other node, a replication listener (``REPL_<its id>``) and a
    controller listener (``CTRL_<its id>``) of its own, and reaches both through the relay, so the
    link between any two nodes has its own addresses and :meth:`eoslab.broker.Cluster.isolate` can
    cut one node off. The controller listeners are advertised too: since KIP-853 a KRaft leader
    tells the others where to reach it, and each node picks the endpoint of its own listener name
    (the first of its ``controller.listener.names``), which is the relay's.
    """
    ids = list(ports.ids())
    replication = [f"REPL_{j}" for j in ids]
    controllers = [f"CTRL_{j}" for j in ids]
    voters = ",".join(f"{j}@{LOOPBACK}:{ports.controller(j, node) if j == node else ports.relay_controller(node, j)}"
                      for j in ids)

    # What node j is told to connect to for each listener: the relay's port for its link to this node.
    advertised = [f"PLAINTEXT://{LOOPBACK}:{ports.client(node)}"]
    advertised += [f"REPL_{j}://{LOOPBACK}:{ports.replication(node, j) if j == node else ports.relay_replication(j, node)}"
                   for j in ids]
    advertised += [f"CTRL_{j}://{LOOPBACK}:{ports.controller(node, j) if j == node else ports.relay_controller(j, node)}"
                   for j in ids]
    rf = str(min(3, len(ids)))
    return {
        "process.roles": "broker,controller",
        "node.id": str(node),
        "controller.quorum.voters": voters,
        # Its own name first: that is the listener this node uses to reach the other controllers.
        "controller.listener.names": ",".join([f"CTRL_{node}"] + [name for name in controllers if name != f"CTRL_{node}"]),
        "listeners": ",".join([f"PLAINTEXT://{LOOPBACK}:{ports.client(node)}"]
                              + [f"CTRL_{j}://{LOOPBACK}:{ports.controller(node, j)}" for j in ids]
                              + [f"REPL_{j}://{LOOPBACK}:{ports.replication(node, j)}" for j in ids]),
        "advertised.listeners": ",".join(advertised),
        "listener.security.protocol.map": ",".join(f"{name}:PLAINTEXT"
                                                   for name in ["PLAINTEXT", *controllers, *replication]),
        "inter.broker.listener.name": f"REPL_{node}",
        **_common_properties(data_dir),
        # Production's defaults for the internal topics: three replicas, two in sync to commit.
        "offsets.topic.replication.factor": rf,
        "transaction.state.log.replication.factor": rf,
        "transaction.state.log.min.isr": str(min(2, len(ids))),
        "share.coordinator.state.topic.replication.factor": rf,
        "share.coordinator.state.topic.min.isr": str(min(2, len(ids))),
        "default.replication.factor": rf,
        # min.insync.replicas stays Kafka's default (1): the durability demos set it per topic.
        "replica.lag.time.max.ms": str(CLUSTER_REPLICA_LAG_MS),
        "broker.session.timeout.ms": str(CLUSTER_SESSION_TIMEOUT_MS),
        "broker.heartbeat.interval.ms": "1000",
        # Unclean leader election stays off (Kafka's default); a demo turns it on per topic.
    }


def render_properties(properties: dict[str, str]) -> str:
    return "".join(f"{key}={value}\n" for key, value in properties.items())


def log4j2_properties(log_file: Path) -> str:
    """Log4j 2 configuration: the broker log goes to one size-capped file, not the terminal."""
    return f"""\
status = warn
appender.file.type = RollingFile
appender.file.name = file
appender.file.fileName = {log_file}
appender.file.filePattern = {log_file}.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 10MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 2
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.request.name = kafka.request.logger
logger.request.level = WARN
"""
