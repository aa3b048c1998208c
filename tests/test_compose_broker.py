"""docker-compose.yml's `kafka` service works, proven by the apache/kafka image's own configuration code.

Specification: with exactly the `kafka` service's environment (ports moved to free ones, see
tests/compose_broker.py), ``kafka.docker.KafkaDockerWrapper`` writes a server.properties that
starts Apache Kafka; the compose healthcheck command passes; transactions commit and abort; a
``read_committed`` consumer in a group reads the committed records and none of the aborted ones;
each advertised listener a client can bootstrap on (PLAINTEXT for the host, INTERNAL for the lab
container) answers and advertises itself, and PROXIED works through the course's fault proxy
listening where it advertises.

Assumptions: Java 17+ and the cached Apache Kafka jars; no Docker. Not covered: the image's shell
scripts and Docker's networking (tests/compose_broker.py says what is reproduced and what is not).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient

from compose_broker import ComposeRun, run_compose_services
from eoslab.chaos import FaultProxy

pytestmark = [pytest.mark.broker, pytest.mark.slow]
TIMEOUT_S = 30.0


@pytest.fixture(scope="module")
def compose_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComposeRun]:
    with run_compose_services(["kafka"], tmp_path_factory.mktemp("compose")) as run:
        yield run


def listeners(value: str) -> dict[str, str]:
    return dict(item.split("://", 1) for item in value.split(","))


def quiet(config: dict[str, object]) -> dict[str, object]:
    return {**config, "logger": logging.getLogger("compose-broker-test")}  # librdkafka's log off stderr


def test_the_wrapper_turns_the_compose_variables_into_the_broker_configuration(compose_kafka: ComposeRun) -> None:
    service = compose_kafka.services["kafka"]
    properties = service.server_properties()
    environment = service.environment
    assert properties["transaction.state.log.replication.factor"] == "1"
    assert properties["offsets.topic.replication.factor"] == "1"
    assert properties["advertised.listeners"] == environment["KAFKA_ADVERTISED_LISTENERS"]
    assert "heap.opts" not in properties, "KAFKA_HEAP_OPTS is for the JVM, not a broker setting"
    assert not [key for key in environment if key.startswith("KAFKA_") and key not in
                compose_kafka.config["services"]["kafka"]["environment"]], "only the compose file's KAFKA_* variables"


def test_the_compose_healthcheck_passes(compose_kafka: ComposeRun) -> None:
    result = compose_kafka.wait_healthy("kafka")
    assert result.returncode == 0, (result.stdout + result.stderr)[-2000:] + compose_kafka.services["kafka"].log_tail()
    assert "ApiVersions" in result.stdout or "Produce" in result.stdout, result.stdout[-1000:]


@pytest.mark.parametrize("listener", ["PLAINTEXT", "INTERNAL"])
def test_each_advertised_listener_answers_and_advertises_itself(compose_kafka: ComposeRun, listener: str) -> None:
    assert compose_kafka.wait_healthy("kafka").returncode == 0
    compose_address = listeners(compose_kafka.config["services"]["kafka"]["environment"]
                                ["KAFKA_ADVERTISED_LISTENERS"])[listener]
    address = compose_kafka.address(compose_address, seen_from="lab", advertised=listener == "PLAINTEXT")
    metadata = AdminClient(quiet({"bootstrap.servers": address})).list_topics(timeout=TIMEOUT_S)
    advertised = {f"{broker.host}:{broker.port}" for broker in metadata.brokers.values()}
    assert advertised == {address}, f"{listener} ({compose_address}) advertises {advertised}"


def test_transactions_and_a_read_committed_group_consumer(compose_kafka: ComposeRun) -> None:
    assert compose_kafka.wait_healthy("kafka").returncode == 0
    environment = compose_kafka.config["services"]["lab"]["environment"]
    bootstrap = compose_kafka.address(environment["KAFKA_BOOTSTRAP_SERVERS"], seen_from="lab")
    topic = f"compose-{uuid.uuid4().hex[:8]}"
    producer = Producer(quiet({"bootstrap.servers": bootstrap, "transactional.id": f"{topic}-txn"}))
    producer.init_transactions(TIMEOUT_S)
    for outcome, values in (("commit", [b"a", b"b"]), ("abort", [b"x"]), ("commit", [b"c"])):
        producer.begin_transaction()
        for value in values:
            producer.produce(topic, value)
        producer.flush(TIMEOUT_S)
        if outcome == "commit":
            producer.commit_transaction(TIMEOUT_S)
        else:
            producer.abort_transaction(TIMEOUT_S)

    consumer = Consumer(quiet({"bootstrap.servers": bootstrap, "group.id": f"{topic}-group",
                               "isolation.level": "read_committed", "auto.offset.reset": "earliest"}))
    consumer.subscribe([topic])
    values: list[bytes] = []
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while len(values) < 3 and time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is not None and not message.error():
                values.append(message.value())
        consumer.commit(asynchronous=False)
        committed = consumer.committed(consumer.assignment(), timeout=TIMEOUT_S)
    finally:
        consumer.close()
    assert values == [b"a", b"b", b"c"], "read_committed must skip the aborted record"
    assert committed and committed[0].offset > 0, "the group coordinator must store the group's offset"


def test_the_proxied_listener_through_the_fault_proxy(compose_kafka: ComposeRun) -> None:
    assert compose_kafka.wait_healthy("kafka").returncode == 0
    lab = compose_kafka.config["services"]["lab"]["environment"]
    listen = compose_kafka.address(lab["EOSLAB_PROXY_ADDRESS"], seen_from="lab")
    upstream = compose_kafka.address(lab["EOSLAB_PROXY_UPSTREAM"], seen_from="lab")
    with FaultProxy(listen, upstream) as proxy:
        metadata = AdminClient(quiet({"bootstrap.servers": proxy.bootstrap})).list_topics(timeout=TIMEOUT_S)
        assert {f"{broker.host}:{broker.port}" for broker in metadata.brokers.values()} == {listen}
        producer = Producer(quiet({"bootstrap.servers": proxy.bootstrap, "enable.idempotence": True}))
        producer.produce(f"compose-proxied-{uuid.uuid4().hex[:8]}", b"through the proxy")
        assert producer.flush(TIMEOUT_S) == 0
        assert proxy.counters()["bytes_to_broker"] > 0


def test_a_broken_environment_is_refused_by_the_wrapper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The same helper must be able to fail: without CLUSTER_ID the image's wrapper cannot format storage.
    import compose_broker

    real = compose_broker.compose_config

    def without_cluster_id(*args: object) -> dict[str, object]:
        config = real(*args)  # type: ignore[arg-type]
        del config["services"]["kafka"]["environment"]["CLUSTER_ID"]
        return config

    monkeypatch.setattr(compose_broker, "compose_config", without_cluster_id)
    with pytest.raises(AssertionError, match="KafkaDockerWrapper setup for kafka failed"):
        with run_compose_services(["kafka"], tmp_path):
            pass


# ---- the `cluster` profile: three apache/kafka nodes, run the same way -----------------------------

CLUSTER_SERVICES = ["kafka-1", "kafka-2", "kafka-3"]


@pytest.fixture(scope="module")
def compose_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComposeRun]:
    with run_compose_services(CLUSTER_SERVICES, tmp_path_factory.mktemp("compose-cluster"),
                              profiles=("cluster",)) as run:
        yield run


def test_the_cluster_profile_starts_three_healthy_replicating_nodes(compose_cluster: ComposeRun) -> None:
    for name in CLUSTER_SERVICES:
        properties = compose_cluster.services[name].server_properties()
        assert properties["node.id"] == name[-1]
        assert properties["transaction.state.log.replication.factor"] == "3"
        result = compose_cluster.wait_healthy(name)
        assert result.returncode == 0, (result.stdout + result.stderr)[-2000:] + compose_cluster.services[name].log_tail()
    environment = compose_cluster.config["services"]["lab"]["environment"]
    # From the lab container (INTERNAL listeners) and from the host (the published PLAINTEXT ones).
    host = ",".join(compose_cluster.address(listeners(compose_cluster.config["services"][name]["environment"]
                                                      ["KAFKA_ADVERTISED_LISTENERS"])["PLAINTEXT"],
                                            seen_from="lab", advertised=True) for name in CLUSTER_SERVICES)
    for bootstrap in (compose_cluster.address(environment["EOSLAB_CLUSTER_BOOTSTRAP"], seen_from="lab"), host):
        admin = AdminClient(quiet({"bootstrap.servers": bootstrap}))
        deadline = time.monotonic() + TIMEOUT_S
        while len(admin.list_topics(timeout=TIMEOUT_S).brokers) < 3 and time.monotonic() < deadline:
            time.sleep(0.5)
        metadata = admin.list_topics(timeout=TIMEOUT_S)
        assert sorted(metadata.brokers) == [1, 2, 3]
        assert {f"{b.host}:{b.port}" for b in metadata.brokers.values()} == set(bootstrap.split(","))
    topic = f"compose-rf3-{uuid.uuid4().hex[:8]}"
    producer = Producer(quiet({"bootstrap.servers": host, "transactional.id": f"{topic}-txn", "acks": "all"}))
    producer.init_transactions(60)  # creates __transaction_state with three replicas
    producer.begin_transaction()
    producer.produce(topic, b"replicated")  # auto-created: default.replication.factor=3
    producer.commit_transaction(TIMEOUT_S)
    partition = AdminClient(quiet({"bootstrap.servers": host})).list_topics(topic, timeout=TIMEOUT_S).topics[topic].partitions[0]
    assert sorted(partition.replicas) == [1, 2, 3]
    deadline = time.monotonic() + TIMEOUT_S
    while sorted(partition.isrs) != [1, 2, 3] and time.monotonic() < deadline:
        time.sleep(0.5)
        partition = AdminClient(quiet({"bootstrap.servers": host})).list_topics(topic, timeout=TIMEOUT_S).topics[topic].partitions[0]
    assert sorted(partition.isrs) == [1, 2, 3]
