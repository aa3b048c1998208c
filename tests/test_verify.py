"""The reference verifier: each layer of the invariant on tricky inputs, then reading a real topic."""

from __future__ import annotations

import time

import pytest

from eoslab.kafka.clients import create_topics, delete_topics, make_producer, unique_name
from eoslab.lessons import verifier
from eoslab.errors import EoslabError
from eoslab.lessons.verifier import (DeliveryReport, assert_exactly_once, read_ids, read_records, record_id, record_value,
                           verify)


def test_identical_streams_are_exactly_once() -> None:
    report = verify(range(5), [0, 1, 2, 3, 4])
    assert report == DeliveryReport(sent=5, received=5, lost=[], duplicated={}, out_of_order=[], unexpected=[])
    assert report.exactly_once
    assert report.summary() == "5 sent, 5 received: 0 lost, 0 duplicated, 0 out of order"


def test_empty_input_and_output_is_exactly_once() -> None:
    report = verify([], [])
    assert report.exactly_once and report.sent == 0 and report.received == 0


def test_nothing_received_loses_everything() -> None:
    report = verify([1, 2, 3], [])
    assert report.lost == [1, 2, 3] and not report.exactly_once
    assert "3 of 3 sent ids never received" in report.problems()[0]


def test_one_duplicate_is_counted_and_named() -> None:
    sent = list(range(1000))
    received = sent[:18] + [17] + sent[18:]
    report = verify(sent, received)
    assert report.duplicated == {17: 2} and report.extra_copies == 1
    assert report.summary() == "1000 sent, 1001 received: 0 lost, 1 duplicated (id 17 ×2), 0 out of order"


def test_a_lost_id_and_a_duplicated_neighbour_are_both_reported() -> None:
    report = verify([1, 2, 3, 4], [1, 2, 2, 2, 4])
    assert report.lost == [3]
    assert report.duplicated == {2: 3}
    assert report.extra_copies == 2
    assert report.out_of_order == []  # a redelivered copy is a duplicate, not a reordering


def test_unknown_ids_are_neither_lost_nor_ordered_but_break_exactly_once() -> None:
    report = verify([1, 2], [99, 1, 99, 2])
    assert report.unexpected == [99]
    assert report.duplicated == {99: 2}
    assert report.lost == [] and report.out_of_order == []
    assert not report.exactly_once
    assert report.summary().endswith("1 never sent (id 99)")


def test_reordering_is_reported_but_is_not_a_delivery_failure() -> None:
    report = verify([1, 2, 3, 4], [1, 3, 2, 4])
    assert report.out_of_order == [2]
    assert report.exactly_once
    with pytest.raises(AssertionError, match="order: 1 ids arrived after an id sent later"):
        assert_exactly_once([1, 2, 3, 4], [1, 3, 2, 4])
    assert_exactly_once([1, 2, 3, 4], [1, 3, 2, 4], check_order=False)


def test_order_is_checked_only_within_a_group() -> None:
    # Two partitions interleaved: odd ids on one, even on the other; each partition is in order.
    received = [1, 3, 0, 5, 2, 4]
    assert verify(range(6), received).out_of_order  # as one stream it looks reordered
    assert verify(range(6), received, order_group=lambda i: i % 2).out_of_order == []


def test_repeated_sent_ids_are_refused() -> None:
    with pytest.raises(EoslabError, match="must be unique"):
        verify([1, 1, 2], [1, 2])


def test_assertion_message_lists_each_broken_layer_with_counts() -> None:
    with pytest.raises(AssertionError) as raised:
        assert_exactly_once([1, 2, 3], [1, 1, 4])
    message = str(raised.value)
    assert "duplicates: 1 ids received more than once (1 extra records; expected 0)" in message
    assert "lost: 2 of 3 sent ids never received (expected 0)" in message
    assert "unexpected: 1 received ids were never sent" in message


def test_record_values_round_trip() -> None:
    assert record_id(record_value(17)) == 17
    assert record_id(record_value("order-9", "payload with spaces")) == "order-9"
    with pytest.raises(EoslabError, match="does not start with"):
        record_id(b"hello")


@pytest.mark.broker
@pytest.mark.timeout(60)
def test_read_committed_skips_an_aborted_transaction_that_read_uncommitted_sees(topic: str) -> None:
    producer = make_producer({
        "transactional.id": f"{topic}-verify",  # one transaction committed, one aborted
        "enable.idempotence": True,  # implied by transactional.id; stated for the reader
    })
    producer.init_transactions(15)
    producer.begin_transaction()
    for n in range(3):
        producer.produce(topic, record_value(n))
    producer.commit_transaction(15)
    producer.begin_transaction()
    for n in range(3, 5):
        producer.produce(topic, record_value(n))
    producer.flush(10)
    producer.abort_transaction(15)

    assert read_ids(topic, "read_committed", timeout_s=20) == [0, 1, 2]
    assert read_ids(topic, "read_uncommitted", timeout_s=20) == [0, 1, 2, 3, 4]
    assert read_records(topic, timeout_s=20) == [(0, 0), (0, 1), (0, 2)]


def _transactional_producer(topic: str):
    producer = make_producer({"transactional.id": f"{topic}-{unique_name('settle')}"})
    producer.init_transactions(15)
    return producer


@pytest.mark.broker
@pytest.mark.timeout(60)
def test_read_committed_waits_for_the_markers_of_a_transaction_that_just_committed(
        topic: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first LSO a reader sees may predate the commit markers; it asks again instead of stopping there."""
    producer = _transactional_producer(topic)
    producer.begin_transaction()
    for n in range(3):
        producer.produce(topic, record_value(n))
    producer.commit_transaction(15)

    real_end_offsets = verifier._end_offsets
    answers: list[dict[int, int]] = []

    def markers_not_yet_written(consumer, topic_name, partitions, deadline):
        ends = real_end_offsets(consumer, topic_name, partitions, deadline)
        if not answers:  # the reader's first look: the LSO still at the first record
            ends = {partition: 0 for partition in ends}
        answers.append(ends)
        return ends

    monkeypatch.setattr(verifier, "_end_offsets", markers_not_yet_written)
    assert read_ids(topic, "read_committed", timeout_s=20) == [0, 1, 2]
    assert answers[0] == {0: 0} and len(answers) >= 3, "the stale LSO was asked again"


@pytest.mark.broker
@pytest.mark.timeout(60)
def test_read_committed_behind_an_open_transaction_stops_at_its_first_record_after_a_bounded_wait(topic: str) -> None:
    producer = _transactional_producer(topic)
    producer.begin_transaction()
    producer.produce(topic, record_value(0))
    producer.commit_transaction(15)
    producer.begin_transaction()
    producer.produce(topic, record_value(1))
    producer.flush(10)  # written, not committed: the LSO stays at offset 1
    started = time.monotonic()
    assert read_ids(topic, "read_committed", timeout_s=20) == [0]
    assert time.monotonic() - started < verifier.MARKER_SETTLE_S + 5
    assert read_ids(topic, "read_uncommitted", timeout_s=20) == [0, 1]
    producer.abort_transaction(15)


@pytest.mark.broker
@pytest.mark.timeout(90)
def test_every_transaction_read_right_after_its_commit_is_seen() -> None:
    """Commit, then read at once: twenty times, each committed record is there."""
    name = create_topics([unique_name("settle")])[0]
    try:
        producer = _transactional_producer(name)
        for n in range(20):
            producer.begin_transaction()
            producer.produce(name, record_value(n))
            producer.commit_transaction(15)
            assert read_ids(name, "read_committed", timeout_s=20) == list(range(n + 1))
    finally:
        delete_topics([name])
