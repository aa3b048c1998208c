"""The widgets, driven in-process through button.click() against real workers and a real proxy."""

from __future__ import annotations

import inspect
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
    assert "proxy during run 1: responses dropped 1" in text, text
    picture = producer_panel.picture.value  # the strip: one sent box arrived twice, one duplicate copy read
    assert "1 duplicated" in picture and picture.count('class="b dup') == 2, picture
    assert producer_panel.pictures[-1].label == "run 1 · idempotence off"


def test_the_same_dropped_ack_with_idempotence_shows_none(producer_panel: FailurePanel) -> None:
    text = run_with_dropped_ack(producer_panel, "idempotence on")
    assert "duplicated: 0 " in text and "lost: 0" in text and "exactly once" in text, text
    assert "proxy during run 1: responses dropped 1" in text, text
    assert "✓ exactly once" in producer_panel.picture.value and 'class="b dup' not in producer_panel.picture.value


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


def test_a_shared_proxy_counts_only_the_panels_own_runs(topic: str) -> None:
    """Code demos on the same proxy dropped answers before the panel ran: the panel does not claim them."""
    from eoslab.chaos import FaultProxy
    from eoslab.kafka.clients import make_producer

    with FaultProxy() as proxy:
        demo = make_producer({"enable.idempotence": False, "retries": 5, "acks": "all", "linger.ms": 0},
                             bootstrap_servers=proxy.bootstrap)
        demo.list_topics(topic, timeout=10)
        proxy.drop_responses("Produce", count=1)
        demo.produce(topic, b"id:999999999")
        assert demo.flush(20) == 0
        assert sum(proxy.counters()["responses_dropped"].values()) == 1  # the demo's drop
        panel = FailurePanel.for_producer(topic, count=5, variants=VARIANTS, faults=["drop_produce_ack"],
                                          proxy=proxy)
        try:
            assert "responses dropped" not in panel.status_text, panel.status_text
            panel.variant.value = "idempotence on"
            panel.run_button.click()
            panel.workers[-1].wait(60)
            assert "proxy during run 1: responses dropped 0" in panel.status_text, panel.status_text
            panel.run_button.click()
            assert panel.workers[-1].name.startswith("producer run 2 ")
        finally:
            panel.close()


def test_errors_read_as_one_line_with_the_raw_text_behind_a_disclosure() -> None:
    from eoslab.widgets.error_text import summarise_error

    raw = ('KafkaError{code=_FENCED,val=-144,str="Failed to flush: Local: This instance has been fenced by a newer '
           'instance: Broker: Producer attempted to produce with an old epoch"}')
    assert summarise_error(raw).startswith("fenced: a newer instance with the same transactional.id took over")
    assert summarise_error("KafkaError{code=_TIMED_OUT,val=-185,str=\"commit timed out\"}").startswith("timed out")
    assert summarise_error('KafkaError{code=_STATE,val=-172,str="Operation not valid in state Ready"}') == \
        "Operation not valid in state Ready"  # unknown: its own words, without the wrapper


def test_a_paused_transactional_run_is_fenced_by_the_next_run(topic: str) -> None:
    from eoslab.kafka.clients import unique_name
    from eoslab.lessons.verifier import read_ids

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
        panel._refresh()
        assert "fenced: a newer instance" in panel.status_text  # one readable line …
        assert "<details>" in panel.raw_errors.value and "FENCED" in panel.raw_errors.value  # … the raw one behind it
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
    from eoslab.kafka.clients import make_producer, temporary_topics
    from eoslab.lessons.verifier import record_value
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
            second.wait(60)  # the kill lands at a random record still to copy, paced at 0.02 s per record
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
    from eoslab.kafka.clients import make_producer
    from eoslab.lessons.sinks import payment_value
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
        assert [worker.name for worker in panel.workers] == [f"{sink} bookkeeper run 1",
                                                             f"{sink} bookkeeper run 1 (restart)"]
        assert f"{duplicated} duplicated" in panel.picture.value
    finally:
        panel.close()


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_the_broker_crash_button_kills_the_broker_and_it_comes_back_with_its_data(
        controlled_broker: EmbeddedBroker, topic: str, capsys: pytest.CaptureFixture[str]) -> None:
    import time

    import psutil

    from eoslab.kafka.clients import make_producer, unique_name
    from eoslab.broker.readiness import answers_metadata
    from eoslab.lessons.verifier import read_ids, record_value

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
        # The data survived the crash. commit_transaction() returns once the coordinator has logged
        # its decision; the commit markers reach the partition after that. Killed in between, the
        # restarted coordinator loads its log and writes them again, and until then the record is
        # beyond the last stable offset, invisible to read_committed (on a loaded machine that takes
        # a while). So read again until it shows, within a deadline.
        seen: list = []
        deadline = time.monotonic() + 90
        while seen != [7] and time.monotonic() < deadline:
            seen = read_ids(topic, "read_committed", timeout_s=30)
            if seen != [7]:
                time.sleep(1)  # polling interval: the loop re-reads the partition
        if seen != [7]:
            from eoslab.observe import read_partition, render_text

            log_lines = [line for line in controlled_broker.log_tail(400)
                         if topic in line or "ransaction" in line or "arker" in line][-15:]
            pytest.fail(f"read_committed saw {seen}; read_uncommitted sees {read_ids(topic, 'read_uncommitted')}; "
                        f"partition: {render_text(read_partition(topic))}; broker log:\n" + "\n".join(log_lines))
    finally:
        panel.close()


COPY_BATCH_SOURCE = inspect.getsource(copy_batch)  # the learner's answer, as a cell would define it
STUB_SOURCE = '''
def copy_batch(consumer, producer, output_topic, transform, max_records):
    """Copy up to max_records input records in one transaction."""
    # YOUR CODE HERE
    raise NotImplementedError()
'''


def _define_in_notebook(namespace: dict, source: str, path: Path) -> None:
    """Define a function as a notebook cell does: in the notebook's namespace, with its source findable."""
    path.write_text(source)
    exec(compile(source, str(path), "exec"), namespace)


def test_pipeline_panel_waits_for_the_learners_function_kills_mid_run_and_takes_fresh_input(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    from eoslab.kafka.clients import temporary_topics
    from eoslab.workers.harness import produce_input
    from eoslab.widgets import PipelinePanel

    notebook: dict = {"__name__": "__main__"}
    _define_in_notebook(notebook, STUB_SOURCE, tmp_path / "cell_1.py")
    with temporary_topics("panel-paced-in", "panel-paced-out") as (source, target):
        produce_input(source, 40)
        panel = PipelinePanel(notebook["copy_batch"], source, target, 40, run_s=4.0, max_records=5)
        try:
            assert "not done yet — write copy_batch()" in panel.notice.value
            panel.start_button.click()
            assert panel.worker is None, "nothing starts while the function is the stub"

            _define_in_notebook(notebook, COPY_BATCH_SOURCE, tmp_path / "cell_2.py")  # the learner's answer
            panel.start_button.click()
            first = panel.worker
            assert first is not None and panel.notice.value == ""
            first.wait_for(lambda s: s.produced >= 1, 60, "the first copy")
            panel.buttons["kill_at_random_moment"].click()
            ended = first.wait(60)
            assert ended.exit_signal == "SIGKILL", ended.describe()
            assert 0 < ended.produced < 40, f"the kill must land mid-run: {ended.describe()}"
            panel.start_button.click()
            panel.worker.wait(60)
            panel.verify()
            assert panel.report is not None and panel.report.exactly_once, panel.status_text
            assert panel.pictures[-1].label == "input 1 · after 1 kill"

            panel.fresh_button.click()
            assert panel.inputs == 2 and panel.output_topic != target and panel.kills == 0
            panel.start_button.click()
            assert panel.worker.name == "copier run 1, input 2"
            panel.worker.wait(60)
            panel.verify_button.click()
            assert panel.report is not None and panel.report.exactly_once, panel.status_text
            assert [picture.label for picture in panel.pictures] == ["input 1 · after 1 kill", "input 2 · after 0 kills"]
        finally:
            panel.close()


def test_an_error_is_explained_in_one_line_with_the_raw_text_behind_a_disclosure() -> None:
    from eoslab.widgets import explain_error

    raw = ("KafkaError{code=_FENCED,val=-144,str=\"Failed to commit transaction: Local: This instance has been "
           "fenced by a newer instance: Broker: Producer attempted to produce with an old epoch\"}")
    explained = explain_error(raw, "zombie")
    assert str(explained).startswith("zombie: ") and "\n" not in str(explained)
    assert len(str(explained)) < len(raw), "the summary is shorter than the raw error"
    page = explained._repr_html_()
    assert "<details>" in page and "old epoch" in page, "the raw text stays reachable behind a disclosure"
    assert explain_error(None, "zombie") == "zombie: no error"
