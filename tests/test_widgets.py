"""The widgets, driven in-process through button.click() against real workers and a real proxy."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from eoslab.widgets import BrokerStatusPanel, FailurePanel
from eoslab.workers import start_producer

pytestmark = [pytest.mark.broker, pytest.mark.timeout(120)]

VARIANTS = {
    "idempotence off": {
        "enable.idempotence": False,  # retries may write a record twice
        "acks": "all",  # wait for the broker's acknowledgement (the one the proxy drops)
        "retries": 5,  # resend what was not acknowledged
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
