"""The broker's configuration: one KRaft node (broker and controller) on loopback.

Every setting here is one a learner's single-broker set-up needs; the reason stands beside it.
"""

from __future__ import annotations

from pathlib import Path

from ..settings import LOOPBACK, BrokerPorts

# Kept small: Binder gives about 2 GB for the broker, JupyterLab and a kernel together.
# bench/broker_startup.py measures the resulting peak RSS.
JVM_HEAP = ["-Xms96m", "-Xmx384m"]
JVM_OPTIONS = [
    *JVM_HEAP,
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
]


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
        "log.dirs": str(data_dir),
        "num.partitions": "1",
        # The internal topics default to replication factor 3; with one broker, init_transactions()
        # and consumer-group joins wait forever for replicas that will never exist.
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        # Fewer partitions for the internal topics: they are created on first use, and 50 of each
        # (the default) costs seconds on a 2-core machine for no benefit with one broker.
        "offsets.topic.num.partitions": "5",
        "transaction.state.log.num.partitions": "5",
        # Consumers join a group at once instead of waiting 3 s for others.
        "group.initial.rebalance.delay.ms": "0",
        # The coordinator looks for timed-out transactions every second (default 10 s), so a
        # stalled transaction is aborted within seconds of its transaction.timeout.ms in demos.
        "transaction.abort.timed.out.transaction.cleanup.interval.ms": "1000",
        "auto.create.topics.enable": "true",
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
