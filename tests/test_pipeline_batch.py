"""What the reference copier does with one consume() batch, before any transaction (no broker).

Why it matters, read from librdkafka's source (``rd_kafka_q_serve_rkmessages``): a rebalance
callback can run inside consume() after part of the batch was collected, and the records of a
partition it revoked stay in the batch unless the partition's barrier arrives before the batch is
full. Copied and committed with the offsets of the (new) assignment, their copies would be
committed with no offsets for their partition, and its next owner would copy them again.
"""

from __future__ import annotations

from confluent_kafka import Message, TopicPartition

from eoslab.workers.pipeline import offsets_after, owned_records


def record(partition: int, offset: int, topic: str = "input") -> Message:
    return Message(topic=topic, partition=partition, offset=offset, value=b"")


def test_records_of_a_partition_revoked_inside_consume_are_dropped_and_the_rest_kept_in_order() -> None:
    batch = [record(0, 10), record(1, 3), record(0, 11), record(1, 4), record(2, 7)]
    kept = owned_records(batch, [TopicPartition("input", 1), TopicPartition("input", 2)])
    assert [(m.partition(), m.offset()) for m in kept] == [(1, 3), (1, 4), (2, 7)]


def test_an_empty_assignment_keeps_nothing() -> None:
    assert owned_records([record(0, 10), record(0, 11)], []) == []


def test_the_same_partition_number_of_another_topic_is_not_owned() -> None:
    assert owned_records([record(0, 1, topic="other")], [TopicPartition("input", 0)]) == []


def test_offsets_after_are_one_past_each_partitions_last_record() -> None:
    batch = [record(0, 10), record(1, 3), record(0, 12), record(1, 4)]
    offsets = [(p.topic, p.partition, p.offset) for p in offsets_after(batch)]
    assert offsets == [("input", 0, 13), ("input", 1, 5)]


def test_offsets_after_name_only_the_partitions_in_the_batch() -> None:
    assert offsets_after([]) == []
    assert [(p.partition, p.offset) for p in offsets_after([record(3, 0)])] == [(3, 1)]
