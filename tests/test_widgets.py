"""The widgets, driven in-process through button.click() against real workers and a real proxy."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from eoslab.broker import EmbeddedBroker
from eoslab.widgets import BrokerStatusPanel, FailurePanel
from eoslab.workers import start_producer

pytestmark = [pytest.mark.broker, pytest.mark.timeout(120)]

VARIANTS = {
    "idempotence off": {
        "enable.idempotence": False,  # retries may write a record twice
        "acks": "all",  # wait for the broker's acknowledgement (the one the proxy drops)
        "retries": 5,  # resend what was not acknowledged
        "linger.ms": 0,  # one record per request even on a loaded machine
        "max.in.flight.requests.per.connection": 1,  # the cut connection carries no other unanswered request
    },
    "idempotence on": {
        "enable.idempotence": True,  # the broker drops a resent batch it already has
    },
}


@pytest.fixture
def producer_panel(topic: str) -> Iterator[FailurePanel]:
    panel = FailurePanel.for_producer(topic, count=10, variants=VARIANTS,
                                      faults=["drop_produce_ack", "kill_worker", "pause_worker", "resume_worker"])
    yield panel
    panel.close()


def run_with_dropped_ack(panel: FailurePanel, variant: str) -> str:
    panel.variant.value = variant
    panel.buttons["drop_produce_ack"].click()
    panel.run_button.click()
    worker = panel.workers[-1]
    worker.wait(60)
    deadline_check = panel.check()  # the refresh thread does this too; calling it makes the test deterministic
    assert deadline_check is not None
    return panel.status_text


def test_a_dropped_ack_without_idempotence_shows_a_duplicate(producer_panel: FailurePanel) -> None:
    text = run_with_dropped_ack(producer_panel, "idempotence off")
    assert "duplicated: 1 " in text and "lost: 0" in text, text
    assert "proxy: responses dropped 1" in text, text


def test_the_same_dropped_ack_with_idempotence_shows_none(producer_panel: FailurePanel) -> None:
    text = run_with_dropped_ack(producer_panel, "idempotence on")
    assert "duplicated: 0 " in text and "lost: 0" in text and "exactly once" in text, text
    assert "proxy: responses dropped 1" in text, text


def test_kill_and_pause_buttons_act_on_the_running_worker(topic: str) -> None:
    panel = FailurePanel(["kill_worker", "pause_worker", "resume_worker"], verify_topic=topic)
    try:
        worker = panel.add_worker(start_producer(topic, 10_000, {"enable.idempotence": True}, interval_s=0.01))
        worker.wait_for(lambda s: s.sent >= 3, 30)
        panel.buttons["pause_worker"].click()
        assert worker.status.paused
        panel.buttons["resume_worker"].click()
        assert not worker.status.paused
        panel.buttons["kill_worker"].click()
        assert worker.status.exit_signal == "SIGKILL"
        assert "killed by SIGKILL" in panel.status_text
    finally:
        panel.close()
        panel.close()  # idempotent


def test_a_fault_that_cannot_apply_is_reported_in_the_panel_not_raised(
        topic: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("eoslab.workers.broker_faults.controlled_broker", lambda: None)
    panel = FailurePanel(["kill_worker", "broker_crash"], verify_topic=topic)
    try:
        panel.buttons["kill_worker"].click()
        panel.buttons["broker_crash"].click()
    finally:
        panel.close()
    printed = capsys.readouterr().out
    assert "no worker is running" in printed
    assert "not available for this broker" in printed
    assert "Traceback" not in printed


def test_unknown_faults_are_refused() -> None:
    from eoslab.errors import EoslabError

    with pytest.raises(EoslabError, match="unknown fault 'flood'"):
        FailurePanel(["flood"])


def test_broker_status_panel_shows_a_reachable_broker(kafka_bootstrap: str) -> None:
    panel = BrokerStatusPanel(kafka_bootstrap)
    try:
        assert "reachable: yes" in panel.status_text
        assert kafka_bootstrap in panel.status.value
        panel.check_button.click()
        assert panel.facts["reachable"] is True
    finally:
        panel.close()


# ---- the panel family: shared proxy, transactional runs, random kills, copier, bookkeeper -------------

def test_a_panel_given_a_proxy_uses_it_and_leaves_it_running(topic: str) -> None:
    from eoslab.chaos import FaultProxy

    with FaultProxy() as proxy:
        panel = FailurePanel.for_producer(topic, count=5, variants=VARIANTS, faults=["drop_produce_ack"],
                                          proxy=proxy)
        assert panel.proxy is proxy and panel.bootstrap == proxy.bootstrap
        panel.buttons["drop_produce_ack"].click()
        panel.variant.value = "idempotence off"
        panel.run_button.click()
        panel.workers[-1].wait(60)
        report = panel.check()
        assert report is not None and report.extra_copies >= 1, panel.status_text  # the batch the ack was lost for
        panel.close()
        assert proxy.is_running, "the notebook's proxy must outlive the panel"


def test_a_paused_transactional_run_is_fenced_by_the_next_run(topic: str) -> None:
    from eoslab.clients import unique_name
    from eoslab.verify import read_ids

    config = {"transactional.id": unique_name("panel-zombie"),  # every run is an instance of one producer
              "enable.idempotence": True,  # required by transactions
              "transaction.timeout.ms": 20000}  # only the successor ends the zombie's transaction
    panel = FailurePanel.for_producer(topic, count=30, variants={"transactional": config},
                                      faults=["pause_worker", "resume_worker", "kill_worker"],
                                      interval_s=0.05, isolation_level="read_committed", records_per_transaction=5)
    try:
        panel.run_button.click()
        zombie = panel.workers[-1]
        zombie.wait_for(lambda s: s.acked >= 7, 30, "7 records acknowledged")
        panel.buttons["pause_worker"].click()
        assert zombie.status.paused
        panel.run_button.click()  # the successor: same transactional.id, init_transactions fences the zombie
        successor = panel.workers[-1]
        successor.wait_for(lambda s: s.transactions_committed >= 1, 30, "the successor's first commit")
        panel.buttons["resume_worker"].click()
        fate = zombie.wait_for(lambda s: s.fatal or not s.alive, 30, "the zombie's fate")
        assert fate.fatal and "FENCED" in (fate.error or "").upper(), fate.describe()
        successor.wait(60)
        committed = read_ids(topic, "read_committed")
        zombie_ids = [record for record in committed if record < 1_000_000]
        assert zombie_ids and len(zombie_ids) % 5 == 0 and len(zombie_ids) < 30, zombie_ids  # whole transactions
        assert "fatal" in panel.status_text
    finally:
        panel.close()


def test_kill_at_a_random_moment_kills_within_a_second(topic: str) -> None:
    panel = FailurePanel(["kill_at_random_moment"], verify_topic=topic)
    try:
        worker = panel.add_worker(start_producer(topic, 10_000, {"enable.idempotence": True}, interval_s=0.01))
        worker.wait_for(lambda s: s.sent >= 1, 30)
        panel.buttons["kill_at_random_moment"].click()
        worker.wait(5)
        assert worker.status.exit_signal == "SIGKILL"
    finally:
        panel.close()


def copy_batch(consumer, producer, output_topic, transform, max_records):  # type: ignore[no-untyped-def]
    """A minimal exactly-once batch (copies and offsets in one transaction), for PipelinePanel."""
    batch = [message for message in consumer.consume(max_records, timeout=0.5) if message.error() is None]
    if not batch:
        return 0
    producer.begin_transaction()
    for message in batch:
        producer.produce(output_topic, transform(message.value()), key=message.key())
    producer.send_offsets_to_transaction(consumer.position(consumer.assignment()),
                                         consumer.consumer_group_metadata(), 10)
    producer.commit_transaction(10)
    return len(batch)


def test_pipeline_panel_killed_and_restarted_copies_exactly_once(kafka_bootstrap: str) -> None:
    from eoslab.clients import make_producer, temporary_topics
    from eoslab.verify import record_value
    from eoslab.widgets import PipelinePanel

    with temporary_topics("panel-copier-in", "panel-copier-out") as (source, target):
        producer = make_producer({"enable.idempotence": True, "acks": "all"})  # each input id exactly once
        for number in range(60):
            producer.produce(source, record_value(number))
        assert producer.flush(10) == 0
        panel = PipelinePanel(copy_batch, source, target, 60, transform_delay_s=0.02, max_records=5)
        try:
            panel.start_button.click()
            first = panel.worker
            assert first is not None
            first.wait_for(lambda s: s.produced >= 12, 30, "12 copies produced")
            panel.buttons["kill_worker"].click()
            assert first.status.exit_signal == "SIGKILL" and panel.kills == 1
            assert panel.report is None  # a killed copier is not counted as a loss
            panel.start_button.click()
            second = panel.worker
            assert second is not first and second is not None
            second.wait_for(lambda s: s.produced >= 5, 30, "5 more copies")
            panel.buttons["kill_at_random_moment"].click()
            second.wait(5)
            panel.start_button.click()
            panel.worker.wait(60)  # drains the input and ends by itself
            panel.verify_button.click()
            assert panel.report is not None and panel.report.exactly_once, panel.status_text
            assert "exactly once" in panel.status_text
        finally:
            panel.close()
            panel.close()


@pytest.mark.parametrize(("sink", "duplicated"), [("naive", 5), ("unique_id", 0)])
def test_db_consumer_panel_crash_then_restart_duplicates_only_without_protection(
        topic: str, tmp_path: Path, sink: str, duplicated: int) -> None:
    from eoslab.clients import make_producer
    from eoslab.sinks import payment_value
    from eoslab.widgets import DbConsumerPanel

    producer = make_producer({"enable.idempotence": True})  # no duplicates in the input itself
    for payment_id in range(20):
        producer.produce(topic, payment_value(payment_id, account="shop", amount=100))
    assert producer.flush(10) == 0
    panel = DbConsumerPanel(topic, range(20), tmp_path, crash_after=15, commit_every=10)
    try:
        panel.sink.value = sink
        panel.run_button.click()
        crashed = panel.workers[-1].wait(30)
        assert crashed.exit_signal == "SIGKILL" and crashed.crashed_at, crashed.describe()
        panel.restart_button.click()
        panel.workers[-1].wait(30)
        report = panel.check()
        assert report is not None and report.extra_copies == duplicated and not report.lost, panel.status_text
        assert f"duplicated: {duplicated} " in panel.status_text
    finally:
        panel.close()


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_the_broker_crash_button_kills_the_broker_and_it_comes_back_with_its_data(
        controlled_broker: EmbeddedBroker, topic: str, capsys: pytest.CaptureFixture[str]) -> None:
    import time

    import psutil

    from eoslab.clients import make_producer, unique_name
    from eoslab.readiness import answers_metadata
    from eoslab.verify import read_ids, record_value

    committed_before = make_producer({
        "transactional.id": unique_name("before-crash"),  # the record must be committed, not only written
        "enable.idempotence": True,  # required by transactions
        "acks": "all",  # acknowledged by the broker before the commit
    })
    committed_before.init_transactions(20)
    committed_before.begin_transaction()
    committed_before.produce(topic, record_value(7))
    committed_before.commit_transaction(20)
    pid_before = controlled_broker.pid()
    assert pid_before is not None
    panel = FailurePanel(["broker_crash"])
    try:
        panel.buttons["broker_crash"].click()
        assert not psutil.pid_exists(pid_before), "the button must SIGKILL the broker's JVM"
        assert f"pid {pid_before}" in capsys.readouterr().out  # the panel's log says which process died
        deadline = time.monotonic() + 120  # a restart takes 10-30 s; the button restarts in a thread
        while "broker back on" not in panel.status_text and time.monotonic() < deadline:
            assert "not available" not in panel.status_text, panel.status_text  # the restart gave up
            time.sleep(0.5)
        assert "broker back on" in panel.status_text, panel.status_text
        pid_after = controlled_broker.pid()
        assert pid_after is not None and pid_after != pid_before, (pid_before, pid_after)
        assert answers_metadata(controlled_broker.bootstrap, 10)
        assert read_ids(topic, "read_committed", timeout_s=30) == [7]  # the data survived the crash
    finally:
        panel.close()
