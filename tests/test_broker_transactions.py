"""The real broker keeps Kafka's transactional promises, checked from the outside.

Specification: a committed transaction's records reach every consumer; an aborted transaction's
records reach only read_uncommitted consumers; each commit or abort writes a control marker that
occupies one offset (so offsets of a transactional topic have gaps); a second producer with the
same ``transactional.id`` fences the first, whose next transactional call fails fatally; and
committed records survive a SIGKILL of the broker.

Assumptions: the session broker from ``conftest.py`` (or KAFKA_BOOTSTRAP_SERVERS); each test uses
its own single-partition topic, so offsets start at 0. Not covered: multi-partition atomicity and
consume-transform-produce (the assignments test those).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest
from confluent_kafka import KafkaError, KafkaException, Producer, TopicPartition

from eoslab.broker import EmbeddedBroker
from eoslab.kafka.clients import make_consumer, make_producer, unique_name

pytestmark = pytest.mark.broker

TXN_TIMEOUT_S = 20.0
READ_DEADLINE_S = 20.0


@dataclass(frozen=True)
class ReadRecord:
    offset: int
    value: str


def transactional_producer(transactional_id: str) -> Producer:
    producer = make_producer({
        "transactional.id": transactional_id,
        "enable.idempotence": True,  # implied by transactional.id; stated because librdkafka defaults to False
        "transaction.timeout.ms": 30_000,  # a test that dies mid-transaction frees the partition soon
    })
    producer.init_transactions(TXN_TIMEOUT_S)
    return producer


def write_in_transaction(producer: Producer, topic: str, values: list[str], commit: bool) -> None:
    producer.begin_transaction()
    for value in values:
        producer.produce(topic, value=value.encode())
    if commit:
        producer.commit_transaction(TXN_TIMEOUT_S)
    else:
        producer.flush(TXN_TIMEOUT_S)  # the aborted records really reach the log before the marker
        producer.abort_transaction(TXN_TIMEOUT_S)


def read_partition(topic: str, isolation_level: str) -> list[ReadRecord]:
    """Every record of partition 0 a consumer with ``isolation_level`` delivers, up to its end."""
    consumer = make_consumer({
        "group.id": unique_name("test-reader"),
        "isolation.level": isolation_level,  # the subject under test; librdkafka defaults to read_committed
        "enable.auto.commit": False,  # a reader that leaves no trace
        "enable.partition.eof": True,  # tells us when the end (LSO or high watermark) is reached
    })
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        records: list[ReadRecord] = []
        deadline = time.monotonic() + READ_DEADLINE_S
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    return records
                raise KafkaException(error)
            records.append(ReadRecord(message.offset(), message.value().decode()))
        raise AssertionError(f"{isolation_level} reader of {topic} saw no end of partition within "
                             f"{READ_DEADLINE_S:.0f} s; got {len(records)} records: {records}")
    finally:
        consumer.close()


def high_watermark(topic: str, isolation_level: str = "read_uncommitted") -> int:
    """The partition's end as ``isolation_level`` sees it: the high watermark, or (read_committed) the LSO."""
    consumer = make_consumer({"group.id": unique_name("test-watermark"), "enable.auto.commit": False,
                              "isolation.level": isolation_level})
    try:
        _low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10, cached=False)
        return high
    finally:
        consumer.close()


def wait_until_every_marker_is_written(topic: str, timeout_s: float = 10.0) -> None:
    """Until the LSO reaches the high watermark: the last transaction's marker is in the log."""
    deadline = time.monotonic() + timeout_s
    while high_watermark(topic, "read_committed") < high_watermark(topic):
        if time.monotonic() > deadline:
            raise AssertionError(f"{topic}: the last transaction's marker was not written within {timeout_s:.0f} s")
        time.sleep(0.05)


def test_committed_transaction_is_visible_to_read_committed_consumer(topic: str) -> None:
    producer = transactional_producer(unique_name("test-txn"))
    write_in_transaction(producer, topic, ["a", "b", "c"], commit=True)

    assert [record.value for record in read_partition(topic, "read_committed")] == ["a", "b", "c"]


def test_aborted_transaction_is_hidden_from_read_committed_but_seen_by_read_uncommitted(topic: str) -> None:
    producer = transactional_producer(unique_name("test-txn"))
    write_in_transaction(producer, topic, ["kept-1"], commit=True)
    write_in_transaction(producer, topic, ["aborted-1", "aborted-2"], commit=False)
    write_in_transaction(producer, topic, ["kept-2"], commit=True)

    committed_view = [record.value for record in read_partition(topic, "read_committed")]
    uncommitted_view = [record.value for record in read_partition(topic, "read_uncommitted")]

    assert committed_view == ["kept-1", "kept-2"]
    assert uncommitted_view == ["kept-1", "aborted-1", "aborted-2", "kept-2"]


def test_commit_and_abort_markers_leave_gaps_in_offsets(topic: str) -> None:
    producer = transactional_producer(unique_name("test-txn"))
    # One record per transaction: record, marker, record, marker, record, marker.
    write_in_transaction(producer, topic, ["first"], commit=True)
    write_in_transaction(producer, topic, ["aborted"], commit=False)
    write_in_transaction(producer, topic, ["second"], commit=True)

    committed = read_partition(topic, "read_committed")
    uncommitted = read_partition(topic, "read_uncommitted")

    assert committed == [ReadRecord(0, "first"), ReadRecord(4, "second")]
    assert uncommitted == [ReadRecord(0, "first"), ReadRecord(2, "aborted"), ReadRecord(4, "second")]
    assert high_watermark(topic) == 6, "three markers (offsets 1, 3, 5) follow the three records"


def test_older_producer_with_same_transactional_id_is_fenced(topic: str) -> None:
    shared_id = unique_name("test-zombie")
    older = transactional_producer(shared_id)
    older.begin_transaction()
    older.produce(topic, value=b"from-the-zombie")
    older.flush(TXN_TIMEOUT_S)

    # The newer instance bumps the producer epoch; the coordinator aborts the older one's transaction.
    newer = transactional_producer(shared_id)
    write_in_transaction(newer, topic, ["from-the-new-instance"], commit=True)

    with pytest.raises(KafkaException) as raised:
        older.commit_transaction(TXN_TIMEOUT_S)
    error: KafkaError = raised.value.args[0]
    assert error.fatal(), f"fencing must be fatal, got {error}"
    assert error.code() in (KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH), error
    assert [record.value for record in read_partition(topic, "read_committed")] == ["from-the-new-instance"]


@pytest.mark.slow
def test_committed_records_survive_a_hard_broker_restart(topic: str, controlled_broker: EmbeddedBroker) -> None:
    producer = transactional_producer(unique_name("test-durable"))
    write_in_transaction(producer, topic, ["durable-1", "durable-2"], commit=True)
    write_in_transaction(producer, topic, ["never-committed"], commit=False)
    old_pid = controlled_broker.pid()
    # The abort returns before its marker is written; a SIGKILL in between can leave the marker
    # unwritten for good on one combined node (docs/kafka-findings.md): not what this test is about.
    wait_until_every_marker_is_written(topic)

    controlled_broker.restart(hard=True, quiet=True)  # SIGKILL, then start() waits for readiness

    assert controlled_broker.pid() not in (None, old_pid), "the broker must be a new JVM"
    assert [record.value for record in read_partition(topic, "read_committed")] == ["durable-1", "durable-2"]
