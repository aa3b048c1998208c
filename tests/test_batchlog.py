"""The broker's stored batch headers show a producer id and sequence numbers only for idempotent writes."""

from __future__ import annotations

from typing import Any

import pytest

from eoslab.observe.batchlog import NO_PRODUCER_ID, read_segment, stored_batches
from eoslab.kafka.clients import make_producer
from eoslab.kafka.connect import controlled_broker
from eoslab.lessons.verifier import record_value


def produce(topic: str, ids: range, **config: Any) -> None:
    producer = make_producer({"acks": "all", **config})
    for record in ids:
        producer.produce(topic, value=record_value(record))
    assert producer.flush(15) == 0


@pytest.mark.broker
@pytest.mark.timeout(60)
def test_idempotent_batches_carry_producer_id_and_consecutive_sequences(topic: str) -> None:
    if controlled_broker() is None:
        pytest.skip("reading segment files needs the embedded broker")
    produce(topic, range(3), **{"enable.idempotence": False})  # plain: no producer id
    produce(topic, range(3, 8), **{"enable.idempotence": True, "linger.ms": 0})

    batches = stored_batches(topic)

    assert sum(batch.record_count for batch in batches) == 8
    assert [batch.base_offset for batch in batches] == sorted(batch.base_offset for batch in batches)
    plain = [batch for batch in batches if batch.last_offset < 3]
    idempotent = [batch for batch in batches if batch.base_offset >= 3]
    assert all(batch.producer_id == NO_PRODUCER_ID and batch.base_sequence == -1 for batch in plain)
    assert len({batch.producer_id for batch in idempotent}) == 1 and idempotent[0].producer_id >= 0
    expected_sequence = 0
    for batch in idempotent:  # sequences run on from batch to batch, however records were batched
        assert batch.base_sequence == expected_sequence and batch.producer_epoch == 0
        expected_sequence += batch.record_count
    assert "sequence" in idempotent[0].describe() and "no producer id" in plain[0].describe()


def test_a_batch_still_being_written_is_left_out(tmp_path: Any) -> None:
    segment = tmp_path / "00000000000000000000.log"
    segment.write_bytes(b"\x00" * 8 + (200).to_bytes(4, "big") + b"\x00" * 60)  # declares more than is there
    assert read_segment(segment) == []
