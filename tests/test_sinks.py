"""SQLite sinks and the database consumer worker: a crash between the database write and the offset
commit really books a payment twice without protection, and never with a unique id or with the
offsets stored in the database. Counted in SQLite and checked with the reference verifier."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, TopicPartition

from eoslab.kafka.clients import make_producer, unique_name
from eoslab.errors import EoslabError
from eoslab.lessons.sinks import (NaiveSink, OffsetStoringSink, UniqueIdSink, booked_ids, booked_total, duplicate_counts,
                          open_sink, parse_payment, payment_value, summarize)
from eoslab.lessons.verifier import verify
from eoslab.workers import Worker
from eoslab.workers.db_consumer import start_db_consumer


class FakeMessage:
    """The four things a sink reads from a consumed record."""

    def __init__(self, payment_id: int, offset: int, topic: str = "payments", partition: int = 0) -> None:
        self._value = payment_value(payment_id, "alice", 100 * (payment_id + 1))
        self._offset, self._topic, self._partition = offset, topic, partition

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def value(self) -> bytes:
        return self._value


# ---- the sinks, without a broker ------------------------------------------------------------------

def test_a_payment_value_round_trips_and_a_foreign_value_is_refused() -> None:
    payment = parse_payment(payment_value(7, "bob", 2500))
    assert (payment.payment_id, payment.account, payment.amount) == (7, "bob", 2500)
    with pytest.raises(EoslabError, match="payment_value"):
        parse_payment(b"id:7")


def test_the_naive_sink_books_a_replayed_record_twice(tmp_path: Path) -> None:
    with NaiveSink(tmp_path / "naive.db") as sink:
        for message in (FakeMessage(1, 0), FakeMessage(2, 1), FakeMessage(2, 1)):
            sink.apply(message)
    assert booked_ids(tmp_path / "naive.db") == [1, 2, 2]
    assert duplicate_counts(tmp_path / "naive.db") == {2: 2}
    assert booked_total(tmp_path / "naive.db") == 200 + 300 + 300


def test_the_unique_id_sink_ignores_a_replayed_record(tmp_path: Path) -> None:
    with UniqueIdSink(tmp_path / "unique.db") as sink:
        added = [sink.apply(message) for message in (FakeMessage(1, 0), FakeMessage(2, 1), FakeMessage(2, 1))]
    assert added == [True, True, False]
    assert booked_ids(tmp_path / "unique.db") == [1, 2]
    assert "0 duplicate rows" in summarize(tmp_path / "unique.db")


def test_the_offset_sink_stores_the_next_offset_with_the_row_and_positions_partitions(tmp_path: Path) -> None:
    with OffsetStoringSink(tmp_path / "offsets.db") as sink:
        assert sink.stored_offsets("payments") == {}
        sink.apply(FakeMessage(1, 0))
        sink.apply(FakeMessage(2, 4, partition=1))
        assert sink.stored_offsets("payments") == {0: 1, 1: 5}
        positions = sink.positions_for([TopicPartition("payments", p) for p in (0, 1, 2)])
    assert [(p.partition, p.offset) for p in positions] == [(0, 1), (1, 5), (2, OFFSET_BEGINNING)]


def test_a_failure_before_commit_books_neither_the_row_nor_the_offset(tmp_path: Path) -> None:
    def fail() -> None:
        raise RuntimeError("injected")

    with OffsetStoringSink(tmp_path / "offsets.db") as sink:
        sink.apply(FakeMessage(1, 0))
        with pytest.raises(RuntimeError):
            sink.apply(FakeMessage(2, 1), before_commit=fail)
        assert sink.stored_offsets("payments") == {0: 1}
    assert booked_ids(tmp_path / "offsets.db") == [1]


def test_unknown_sinks_and_crash_points_are_refused(tmp_path: Path) -> None:
    with pytest.raises(EoslabError, match="no sink 'magic'"):
        open_sink("magic", tmp_path / "x.db")
    with pytest.raises(EoslabError, match="no crash point 'sideways'"):
        start_db_consumer("t", "g", str(tmp_path / "x.db"), "naive", crash_point="sideways")


# ---- the worker, against the real broker ----------------------------------------------------------

def fill_payments(topic: str, count: int) -> list[int]:
    producer = make_producer({"enable.idempotence": True})  # no duplicates in the input: the verifier's assumption
    for payment_id in range(count):
        producer.produce(topic, payment_value(payment_id, "alice", 1000))
    assert producer.flush(20) == 0
    return list(range(count))


def crash_and_replay(topic: str, db_path: Path, sink: str, crash_point: str, workers: list[Worker],
                     **options: Any) -> Worker:
    first = start_db_consumer(topic, unique_name("bookkeeper"), str(db_path), sink, crash_point=crash_point, **options)
    workers.append(first)
    crashed = first.wait(30)
    assert crashed.exit_signal == "SIGKILL" and crashed.crashed_at == crash_point, first.stderr_tail()
    second = first.restart()
    workers.append(second)
    final = second.wait(30)
    assert (final.phase, final.exit_code) == ("done", 0), second.stderr_tail()
    return second



@pytest.mark.broker
@pytest.mark.timeout(120)
def test_without_protection_a_crash_before_the_offset_commit_books_payments_twice(
        topic: str, tmp_path: Path, workers: list[Worker]) -> None:
    sent = fill_payments(topic, 20)
    crash_and_replay(topic, tmp_path / "naive.db", "naive", "after_db_commit_before_offset_commit:15", workers,
                     commit_every=10)
    report = verify(sent, booked_ids(tmp_path / "naive.db"))
    assert not report.lost
    assert report.duplicated == {payment_id: 2 for payment_id in range(10, 15)}, report.summary()


@pytest.mark.broker
@pytest.mark.timeout(120)
@pytest.mark.parametrize("sink", ["unique_id", "offsets_in_db"])
def test_with_protection_the_same_crash_books_every_payment_once(
        topic: str, tmp_path: Path, workers: list[Worker], sink: str) -> None:
    sent = fill_payments(topic, 20)
    replayer = crash_and_replay(topic, tmp_path / f"{sink}.db", sink, "after_db_commit_before_offset_commit:15",
                                workers, commit_every=10)
    assert verify(sent, booked_ids(tmp_path / f"{sink}.db")).exactly_once
    if sink == "offsets_in_db":
        assert replayer.status.committed == 0, "the offsets live in the database, not in Kafka"
        assert any(event.get("offsets") == {"0": 15} for event in replayer.events()), replayer.events()
    else:
        assert replayer.status.seen == 10 and replayer.status.processed == 5, replayer.status.describe()


@pytest.mark.broker
@pytest.mark.timeout(120)
def test_a_kill_inside_the_database_transaction_leaves_nothing_half_booked(
        topic: str, tmp_path: Path, workers: list[Worker]) -> None:
    sent = fill_payments(topic, 10)
    db_path = tmp_path / "offsets.db"
    first = start_db_consumer(topic, unique_name("bookkeeper"), str(db_path), "offsets_in_db",
                              crash_point="mid_db_transaction:4")
    workers.append(first)
    assert first.wait(30).exit_signal == "SIGKILL", first.stderr_tail()
    assert booked_ids(db_path) == [0, 1, 2], "the fourth payment's transaction was rolled back"
    with sqlite3.connect(db_path) as db:
        assert db.execute("SELECT next_offset FROM consumer_positions").fetchall() == [(3,)]
    second = first.restart()
    workers.append(second)
    assert second.wait(30).phase == "done", second.stderr_tail()
    assert verify(sent, booked_ids(db_path)).exactly_once
