"""Client statistics against the real broker: what eoslab.observe.stats reads is what the clients report.

Each test drives a real client into a state and waits (with a deadline) for a statistics snapshot
that shows it; the last test shows why a read_committed consumer's lag belongs against the LSO.
"""

from __future__ import annotations

import json
import time

import pytest

from eoslab.kafka.clients import make_consumer, make_producer, unique_name
from eoslab.observe.stats import StatsRecorder, epoch_bumps, parse_statistics

pytestmark = pytest.mark.broker

STATS_INTERVAL_MS = 100  # small, so the tests wait little for a fresh snapshot
WAIT_S = 15.0


def _transactional_producer(recorder: StatsRecorder):
    producer = make_producer({
        "transactional.id": unique_name("stats-txn"),
        "enable.idempotence": True,  # implied by transactional.id; stated for the reader
        "statistics.interval.ms": STATS_INTERVAL_MS,
        "stats_cb": recorder,
    })
    producer.init_transactions(WAIT_S)
    return producer


def test_plain_producer_has_no_producer_id(topic: str) -> None:
    recorder = StatsRecorder()
    producer = make_producer({"enable.idempotence": False,  # the baseline: no eos block at all
                              "acks": "all", "statistics.interval.ms": STATS_INTERVAL_MS, "stats_cb": recorder})
    producer.produce(topic, b"x")
    producer.flush(WAIT_S)
    snapshot = recorder.wait_for(lambda s: s.messages_sent >= 1, WAIT_S, poll=lambda: producer.poll(0.05))
    assert (snapshot.producer_id, snapshot.idempotence_state, snapshot.txn_state) == (-1, None, None)


def test_idempotent_producer_reports_producer_id_and_epoch(topic: str) -> None:
    recorder = StatsRecorder()
    producer = make_producer({"enable.idempotence": True,  # asks the broker for a producer id
                              "statistics.interval.ms": STATS_INTERVAL_MS, "stats_cb": recorder})
    producer.produce(topic, b"x")
    producer.flush(WAIT_S)
    snapshot = recorder.wait_for(lambda s: s.producer_id >= 0, WAIT_S, poll=lambda: producer.poll(0.05))
    assert snapshot.idempotence_state == "Assigned"
    assert snapshot.producer_epoch >= 0
    assert snapshot.producer_id_assignments == 1


def test_transaction_state_moves_ready_in_transaction_ready(topic: str) -> None:
    recorder = StatsRecorder()
    producer = _transactional_producer(recorder)
    poll = lambda: producer.poll(0.05)  # noqa: E731 - statistics arrive only while polled
    ready = recorder.wait_for(lambda s: s.txn_state == "Ready", WAIT_S, poll=poll)
    assert ready.producer_id >= 0 and ready.producer_epoch >= 0
    producer.begin_transaction()
    producer.produce(topic, b"x")
    open_ = recorder.wait_for(lambda s: s.txn_state == "InTransaction", WAIT_S, poll=poll)
    assert open_.txn_may_enqueue is True and open_.is_transaction_open
    producer.commit_transaction(WAIT_S)
    after = recorder.wait_for(lambda s: s.txn_state == "Ready" and s.monotonic_us > open_.monotonic_us, WAIT_S,
                              poll=poll)
    assert after.txn_may_enqueue is False
    assert (after.producer_id, after.producer_epoch) == (ready.producer_id, ready.producer_epoch)


def test_stalled_transaction_age_grows_until_abort(topic: str) -> None:
    recorder = StatsRecorder()
    producer = _transactional_producer(recorder)
    poll = lambda: producer.poll(0.05)  # noqa: E731
    producer.begin_transaction()
    producer.produce(topic, b"never committed")
    producer.flush(WAIT_S)  # the record is in the log; the transaction stays open
    first = recorder.wait_for(lambda s: s.txn_state == "InTransaction", WAIT_S, poll=poll)
    later = recorder.wait_for(lambda s: s.txn_state == "InTransaction" and s.txn_state_age_s >= 1.0, WAIT_S,
                              poll=poll)
    assert later.txn_state_age_s > first.txn_state_age_s
    producer.abort_transaction(WAIT_S)
    after = recorder.wait_for(lambda s: s.txn_state == "Ready", WAIT_S, poll=poll)
    assert after.txn_state_age_s < later.txn_state_age_s


def test_parse_measures_state_age_from_the_statistics_clock() -> None:
    document = {"name": "p", "type": "producer", "ts": 1_000_000, "time": 1,
                "eos": {"idemp_state": "Assigned", "txn_state": "InTransaction", "txn_stateage": 999_999,
                        "producer_id": 7, "producer_epoch": 2, "epoch_cnt": 1}}
    first = parse_statistics(json.dumps(document))
    second = parse_statistics({**document, "ts": 3_500_000}, previous=first)
    third = parse_statistics({**document, "ts": 4_000_000, "eos": {**document["eos"], "txn_state": "Ready"}},
                             previous=second)
    assert (first.txn_state_age_s, second.txn_state_age_s, third.txn_state_age_s) == (0.0, 2.5, 0.0)
    assert second.reported_txn_stateage_ms == 999_999  # kept, not trusted
    bumped = parse_statistics({**document, "eos": {**document["eos"], "producer_epoch": 3}})
    assert epoch_bumps([first, second, bumped]) == 1


def test_read_committed_lag_is_measured_against_the_lso(topic: str) -> None:
    writer_stats = StatsRecorder()
    writer = _transactional_producer(writer_stats)
    writer.begin_transaction()
    for index in range(5):
        writer.produce(topic, f"committed-{index}".encode())
    writer.commit_transaction(WAIT_S)
    writer.begin_transaction()
    for index in range(3):
        writer.produce(topic, f"open-{index}".encode())
    writer.flush(WAIT_S)  # 3 records of an open transaction sit beyond the LSO

    reader_stats = StatsRecorder()
    reader = make_consumer({"group.id": unique_name("stats-lag"),
                            "isolation.level": "read_committed",  # the point of the test
                            "enable.auto.commit": False,  # we commit explicitly after reading
                            "auto.offset.reset": "earliest",
                            "statistics.interval.ms": STATS_INTERVAL_MS, "stats_cb": reader_stats})
    try:
        reader.subscribe([topic])
        read: list[bytes] = []
        deadline = time.monotonic() + WAIT_S
        while len(read) < 5 and time.monotonic() < deadline:
            message = reader.poll(0.1)
            if message is not None and not message.error():
                read.append(message.value())
        assert len(read) == 5, f"read {len(read)} of 5 committed records"
        reader.commit(asynchronous=False)

        def caught_up(snapshot) -> bool:
            part = snapshot.partition(topic)
            return part is not None and part.committed_offset is not None and part.last_stable_offset == 6 \
                and part.high_watermark == 9

        snapshot = reader_stats.wait_for(caught_up, WAIT_S, poll=lambda: reader.poll(0.05))
        part = snapshot.partition(topic)
        # 5 records + 1 commit marker = offsets 0..5, LSO 6; the open transaction holds 6..8.
        assert part.open_transaction_span == 3
        assert part.lag_against_lso <= 1  # the consumer has everything it may read (a marker may remain)
        assert part.lag_against_high_watermark - part.lag_against_lso == 3
        writer.commit_transaction(WAIT_S)
        moved = reader_stats.wait_for(lambda s: s.partition(topic).last_stable_offset == 10, WAIT_S,
                                      poll=lambda: reader.poll(0.05))
        assert moved.partition(topic).open_transaction_span == 0
    finally:
        reader.close()


def test_the_dashboard_says_live_then_stopped_and_keeps_the_alerts_it_saw(topic: str) -> None:
    from eoslab.observe import StatsDashboard, open_too_long, wait_until

    recorder = StatsRecorder()
    producer = _transactional_producer(recorder)
    dashboard = StatsDashboard(rule=open_too_long(0.5), refresh_s=0.1, title="test dashboard")
    dashboard.watch("producer", recorder, drive=lambda: producer.poll(0))
    dashboard.start()
    try:
        assert "● live · every 0.1 s" in dashboard._title.value
        producer.begin_transaction()
        producer.produce(topic, b"held open")
        producer.flush(WAIT_S)
        assert wait_until(lambda: dashboard.alerts_seen, WAIT_S), "the open transaction should raise an alert"
        picture = dashboard.snapshot_of("the stuck transaction").data
        assert "snapshot · the stuck transaction" in picture and "transaction open longer than 0.5 s" in picture
    finally:
        dashboard.close()
        producer.abort_transaction(WAIT_S)
    assert "stopped at" in dashboard._title.value and "live" not in dashboard._title.value
    assert "alerts seen while it ran" in dashboard._alerts.value and "no alerts" not in dashboard._alerts.value
