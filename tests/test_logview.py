"""The log view against real transactions: committed, aborted and open, read from the real broker.

The live tests write transactions with known outcomes and check that the snapshot shows exactly
those outcomes, the LSO and the high watermark; one test checks the *inferred* marker kinds
against the broker's own segment file (control batches carry their type there). The drawn-log
tests pin Kafka's visibility rules that the exercises of 05-read-committed rely on.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import IsolationLevel, TopicPartition
from confluent_kafka.admin import OffsetSpec

from eoslab.broker import EmbeddedBroker
from eoslab.kafka.clients import make_admin, make_consumer, make_producer, unique_name
from eoslab.errors import EoslabError
from eoslab.observe.logreader import read_partition
from eoslab.observe.partition import (ABORT, ABORTED, COMMIT, COMMITTED, OPEN, PENDING, READ_COMMITTED,
                                      READ_UNCOMMITTED, RECORD, TXN_HEADER, abort, commit, drawn_log, record,
                                      render_html, render_text)

TIMEOUT_S = 10.0


@pytest.fixture
def transactional_producers(kafka_bootstrap: str) -> Iterator[list]:
    """Make transactional producers on demand; flush them all at the end."""
    made: list = []

    def make() -> object:
        producer = make_producer({
            "transactional.id": unique_name("logview-test"),
            "enable.idempotence": True,  # required by transactions; explicit because librdkafka defaults to false
            "transaction.timeout.ms": 20000,  # longer than any test, so nothing aborts behind our back
        })
        producer.init_transactions(TIMEOUT_S)
        made.append(producer)
        return producer

    yield make  # type: ignore[misc]
    for producer in made:
        producer.flush(1)


def write(producer, topic: str, label: str | None, *values: str) -> None:
    for value in values:
        producer.produce(topic, value.encode(), headers={TXN_HEADER: label} if label else None)
    producer.flush(TIMEOUT_S)  # the records are in the log before we look


def write_plain(topic: str, *values: str) -> None:
    plain = make_producer({"enable.idempotence": False, "acks": "all"})  # no transaction at all
    write(plain, topic, None, *values)


def end_offsets(topic: str, isolation_level: str) -> tuple[int, int]:
    consumer = make_consumer({"group.id": unique_name("lso-check"), "isolation.level": isolation_level,
                              "enable.auto.commit": False})
    try:
        return consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=TIMEOUT_S, cached=False)
    finally:
        consumer.close()


def admin_latest(topic: str, isolation_level: IsolationLevel) -> int:
    partition = TopicPartition(topic, 0)
    admin = make_admin()  # keep a reference: a collected client never resolves its futures
    futures = admin.list_offsets({partition: OffsetSpec.latest()}, isolation_level=isolation_level,
                                 request_timeout=TIMEOUT_S)
    return next(iter(futures.values())).result(timeout=TIMEOUT_S).offset


@pytest.mark.broker
def test_read_committed_high_offset_is_the_lso(topic: str, transactional_producers) -> None:
    """With a transaction open, a read_committed consumer's high offset stops at its first record."""
    write_plain(topic, "before")  # offset 0
    open_transaction = transactional_producers()
    open_transaction.begin_transaction()
    write(open_transaction, topic, "T1", "a", "b")  # offsets 1, 2: open
    write_plain(topic, "after")  # offset 3: committed, but behind the open transaction

    assert end_offsets(topic, READ_UNCOMMITTED) == (0, 4)  # the high watermark
    assert end_offsets(topic, READ_COMMITTED) == (0, 1)  # the LSO: first offset of the open transaction
    assert admin_latest(topic, IsolationLevel.READ_COMMITTED) == 1  # the broker's own answer agrees
    assert admin_latest(topic, IsolationLevel.READ_UNCOMMITTED) == 4

    open_transaction.commit_transaction(TIMEOUT_S)  # marker at 4
    assert end_offsets(topic, READ_COMMITTED) == (0, 5)


@pytest.mark.broker
def test_snapshot_shows_committed_aborted_and_open_transactions(topic: str, transactional_producers) -> None:
    """Commit T1, abort T2, a plain record, T3 left open: cells, views, LSO and HW all say so."""
    first, second = transactional_producers(), transactional_producers()
    first.begin_transaction()
    write(first, topic, "T1", "c0", "c1", "c2")  # 0-2
    first.commit_transaction(TIMEOUT_S)  # marker 3
    first.begin_transaction()
    write(first, topic, "T2", "x0", "x1")  # 4-5
    first.abort_transaction(TIMEOUT_S)  # marker 6
    write_plain(topic, "plain")  # 7
    second.begin_transaction()
    write(second, topic, "T3", "o0", "o1")  # 8-9, open

    snapshot = read_partition(topic)
    kinds = {cell.offset: (cell.kind, cell.txn, cell.status) for cell in snapshot.cells}
    assert kinds == {
        0: (RECORD, "T1", COMMITTED), 1: (RECORD, "T1", COMMITTED), 2: (RECORD, "T1", COMMITTED),
        3: (COMMIT, "T1", None),
        4: (RECORD, "T2", ABORTED), 5: (RECORD, "T2", ABORTED),
        6: (ABORT, "T2", None),
        7: (RECORD, None, COMMITTED),
        8: (RECORD, "T3", PENDING), 9: (RECORD, "T3", PENDING),
    }
    assert (snapshot.lso, snapshot.high_watermark) == (8, 10)
    assert snapshot.offsets(READ_UNCOMMITTED) == [0, 1, 2, 4, 5, 7, 8, 9]
    assert snapshot.offsets(READ_COMMITTED) == [0, 1, 2, 7]
    assert snapshot.values(READ_COMMITTED) == ["c0", "c1", "c2", "plain"]
    assert all(cell.inferred for cell in snapshot.cells if cell.is_marker)
    assert snapshot.lag(0) == 8 and snapshot.lag(0, READ_UNCOMMITTED) == 10

    second.commit_transaction(TIMEOUT_S)  # marker 10: read_committed catches up
    caught_up = read_partition(topic)
    assert (caught_up.lso, caught_up.high_watermark) == (11, 11)
    assert caught_up.offsets(READ_COMMITTED) == [0, 1, 2, 7, 8, 9]
    assert (caught_up.cell(10).kind, caught_up.cell(10).txn) == (COMMIT, "T3")
    assert caught_up.cell(8).status == COMMITTED


@pytest.mark.broker
def test_open_transaction_holds_back_a_later_plain_record_until_it_aborts(topic: str,
                                                                          transactional_producers) -> None:
    """A committed record behind an open transaction is invisible to read_committed until the abort."""
    slow = transactional_producers()
    slow.begin_transaction()
    write(slow, topic, "T1", "a", "b")  # 0-1 open
    write_plain(topic, "plain")  # 2

    held = read_partition(topic)
    assert (held.lso, held.high_watermark) == (0, 3)
    assert held.offsets(READ_COMMITTED) == []
    assert held.offsets(READ_UNCOMMITTED) == [0, 1, 2]
    assert held.cell(2).status == PENDING  # read_committed cannot tell yet

    slow.abort_transaction(TIMEOUT_S)  # marker 3
    released = read_partition(topic)
    assert (released.lso, released.high_watermark) == (4, 4)
    assert released.values(READ_COMMITTED) == ["plain"]
    assert released.cell(3).kind == ABORT
    assert [released.cell(offset).status for offset in (0, 1)] == [ABORTED, ABORTED]


# --- the inferred markers against the broker's segment file ---------------------------------------


def control_batches(segment: Path) -> dict[int, str]:
    """Offset -> COMMIT/ABORT of every control batch in a v2 log segment (Kafka's on-disk format)."""
    data = segment.read_bytes()
    markers: dict[int, str] = {}
    position = 0
    while position + 61 <= len(data):
        base_offset, batch_length = struct.unpack_from(">qi", data, position)
        if batch_length <= 0:
            break
        attributes = struct.unpack_from(">h", data, position + 21)[0]
        if attributes & 0x20:  # control batch: one record whose key is (version int16, type int16)
            cursor = _skip_varint(data, position + 61)  # record length
            cursor += 1  # record attributes (int8)
            for _field in ("timestampDelta", "offsetDelta", "keyLength"):
                cursor = _skip_varint(data, cursor)
            control_type = struct.unpack_from(">h", data, cursor + 2)[0]
            markers[base_offset] = {0: ABORT, 1: COMMIT}[control_type]
        position += 12 + batch_length
    return markers


def _skip_varint(data: bytes, cursor: int) -> int:
    while data[cursor] & 0x80:
        cursor += 1
    return cursor + 1


@pytest.mark.broker
def test_inferred_markers_match_the_segment_file(session_broker: EmbeddedBroker | None, topic: str,
                                                 transactional_producers) -> None:
    """Every inferred COMMIT/ABORT is the control record type the broker wrote at that offset."""
    if session_broker is None:
        pytest.skip("reads the embedded broker's data directory")
    producer = transactional_producers()
    outcomes = ["commit", "abort", "abort", "commit", "commit", "abort"]
    for number, outcome in enumerate(outcomes):
        producer.begin_transaction()
        write(producer, topic, f"T{number}", *[f"v{number}-{index}" for index in range(number % 3 + 1)])
        if outcome == "commit":
            producer.commit_transaction(TIMEOUT_S)
        else:
            producer.abort_transaction(TIMEOUT_S)
        if number == 2:
            write_plain(topic, "plain")
    snapshot = read_partition(topic)
    inferred = {cell.offset: cell.kind for cell in snapshot.cells if cell.is_marker}

    segment = next((session_broker.data_dir / f"{topic}-0").glob("*.log"))
    deadline = time.monotonic() + TIMEOUT_S
    truth = control_batches(segment)
    while len(truth) < len(outcomes) and time.monotonic() < deadline:  # page cache: visible at once, normally
        time.sleep(0.05)
        truth = control_batches(segment)
    assert truth == inferred, f"segment file says {truth}, the view inferred {inferred}"
    assert [truth[offset] for offset in sorted(truth)] == [COMMIT, ABORT, ABORT, COMMIT, COMMIT, ABORT]


# --- drawn logs: Kafka's rules, no broker ---------------------------------------------------------


def example_log():
    return drawn_log([
        record("a1", "T1"), record("a2", "T1"), commit("T1"),  # 0-2
        record("b1", "T2"), record("n1"), abort("T2"),  # 3-5
        record("c1", "T3"),  # 6: T3 stays open
        record("d1", "T4"), commit("T4"),  # 7-8: committed, but behind T3
        record("n2"),  # 9
    ])


def test_drawn_log_applies_kafkas_visibility_rules() -> None:
    """read_uncommitted sees every data record; read_committed stops at the open T3 (the LSO)."""
    log = example_log()
    assert (log.lso, log.high_watermark) == (6, 10)
    assert log.offsets(READ_UNCOMMITTED) == [0, 1, 3, 4, 6, 7, 9]
    assert log.offsets(READ_COMMITTED) == [0, 1, 4]
    assert log.values(READ_COMMITTED) == ["a1", "a2", "n1"]
    assert [log.cell(offset).status for offset in (3, 6, 7, 9)] == [ABORTED, OPEN, COMMITTED, COMMITTED]
    assert log.lag(2) == 4  # against the LSO: offsets 2..5, markers included
    assert log.lag(2, READ_UNCOMMITTED) == 8
    assert log.lag(9) == 0


def test_drawn_log_without_open_transactions_has_lso_at_the_high_watermark() -> None:
    log = drawn_log([record("a", "T1"), abort("T1"), record("b")], start=40)
    assert (log.lso, log.high_watermark) == (43, 43)
    assert log.offsets(READ_COMMITTED) == [42]


@pytest.mark.parametrize("entries, complaint", [
    ([commit("T1")], "no records before it"),
    ([record("a", "T1"), commit("T1"), record("b", "T1")], "already ended"),
])
def test_drawn_log_rejects_impossible_logs(entries, complaint: str) -> None:
    with pytest.raises(EoslabError, match=complaint):
        drawn_log(entries)


def test_text_rendering_marks_lso_views_and_markers() -> None:
    text = render_text(example_log())
    assert "LSO 6  high watermark 10" in text
    assert "     6  RU     record  T3" in text and text.splitlines()[8].endswith("<- LSO")
    assert "COMMIT marker of T1" in text and "ABORT marker of T2" in text
    assert "read_committed   returns offsets 0 1 4" in text


def test_html_rendering_has_legend_flags_and_escapes_values() -> None:
    log = drawn_log([record("<b>x</b>", "T1"), commit("T1"), record("y", "T2")])
    page = render_html(log)
    assert "&lt;b&gt;x&lt;/b&gt;" in page and "<b>x</b>" not in page
    assert page.count('class="flag lso"') == 1 and page.count('class="flag hw"') == 1
    # Flags sit in their own row under the value, never over it; long values wrap instead of being cut.
    assert '<div class="val">next</div><div class="flags"><span class="flag hw"' in page
    assert "text-overflow:ellipsis" not in page and "overflow-wrap:anywhere" in page
    assert "legend" in page and "read_committed</b> returns" in page
    hidden = render_html(log, show_views=False)
    assert "read_committed</b> returns" not in hidden and "RU" not in hidden.split("legend")[0]


def test_a_snapshot_says_which_step_it_shows_and_a_live_view_says_it_is_live() -> None:
    from eoslab.observe.logview import show

    log = drawn_log([record("a", "T1"), commit("T1")])
    assert 'class="badge snapshot">drawn · the exercise' in show(log, step="the exercise").data
    assert 'class="badge live">● live' in render_html(log, badge="● live", live=True)
    assert "badge" not in render_html(log).split("</style>")[1]  # no label unless asked


@pytest.mark.broker
def test_the_live_view_refreshes_itself_while_a_snapshot_stays_as_it_was(topic: str, transactional_producers) -> None:
    from eoslab.observe.logview import LogView

    producer = transactional_producers()
    producer.begin_transaction()
    write(producer, topic, "T1", "one")
    view = LogView(topic, title="live test", refresh_s=0.3)
    try:
        step_one = view.snapshot_of("T1 open").data
        assert "snapshot · T1 open · read" in step_one and "● live" in view._picture.value
        producer.commit_transaction(TIMEOUT_S)
        deadline = time.monotonic() + 20
        while (view.snapshot is None or view.snapshot.lso != view.snapshot.high_watermark) and time.monotonic() < deadline:
            time.sleep(0.1)  # polling interval: the view's own thread reads the broker
        assert view.snapshot is not None and view.snapshot.lso == view.snapshot.high_watermark, "the live view moved on"
        assert "every 0.3 s" in view.badge
        assert "LSO 0" in step_one, "the snapshot still shows the open transaction"
    finally:
        view.close()
        view.close()
