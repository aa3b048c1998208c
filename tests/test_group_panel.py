"""The consumer-group panel (issue 19, item 2), driven from code as its buttons drive it.

Specification: two copiers share a six-partition input and the panel shows who owns each
partition; a copier paused past the session timeout loses its partitions to the other and, resumed,
has its transaction aborted (its offsets, sent with the old generation, are refused); the output is
exactly-once with the order kept per input partition. The contrast: copiers that commit their
offsets with consumer.commit() after the copies write records twice when one is killed.
Bounded: every wait has a deadline, the panel's close() kills the copiers and deletes its topics.
"""

from __future__ import annotations

import time

import pytest

from eoslab.errors import EoslabError
from eoslab.widgets import GroupPanel
from eoslab.workers.group_run import PAUSE_S

pytestmark = [pytest.mark.broker, pytest.mark.timeout(240)]


def _wait(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout_s:.0f} s")
        time.sleep(0.2)  # polling interval; the copiers report on their status pipes


def test_a_paused_copier_loses_its_partitions_and_wakes_up_fenced_and_the_copy_is_exactly_once(
        kafka_bootstrap: str) -> None:
    panel = GroupPanel(records=3000, copy_delay_s=0.01)
    try:
        panel.start(1)
        panel.start(2)
        _wait(lambda: len(panel.owners()) == 6 and set(panel.owners().values()) == {1, 2}, 60,
              "both copiers owning partitions")
        assert "partitions: 0→copier" in panel.status_text
        zombie = panel.copiers[1]
        _wait(lambda: zombie.status.transaction == "open", 30, "copier 1 in a transaction")
        before = zombie.status
        panel.pause(1)
        time.sleep(PAUSE_S)
        assert "a zombie" in panel.status_text
        _wait(lambda: set(panel.copiers[2].status.partitions) == set(range(6)), 30,
              "copier 2 owning every partition")
        panel.resume(1)
        _wait(lambda: zombie.status.transactions_aborted > before.transactions_aborted, 60,
              "the zombie aborting its transaction")
        assert zombie.status.error and zombie.status.error.split(":")[0] in (
            "ILLEGAL_GENERATION", "UNKNOWN_MEMBER_ID", "REBALANCE_IN_PROGRESS"), zombie.status.error
        _wait(lambda: sum(w.status.committed for w in panel.workers) >= 3000 or not panel.copiers[2].alive, 150,
              "the input copied")
        for instance in (1, 2):
            if panel.copiers[instance].alive:
                panel.kill(instance)
        line = panel.verify()
        assert panel.report is not None and panel.report.exactly_once, line
        assert "order per input partition kept" in line
    finally:
        panel.close()


def test_copiers_that_commit_after_the_copies_write_records_twice_when_one_is_killed(kafka_bootstrap: str) -> None:
    panel = GroupPanel(records=2000, copy_delay_s=0.005, mode="at_least_once")
    try:
        panel.start(1)
        panel.start(2)
        _wait(lambda: set(panel.owners().values()) == {1, 2}, 60, "both copiers owning partitions")
        _wait(lambda: panel.copiers[1].status.produced >= 200, 60, "copier 1 copying")
        panel.kill(1)  # it dies between copying a batch and committing its offsets
        _wait(lambda: not panel.copiers[2].alive or sum(
            w.status.committed for w in panel.workers) >= 2000, 150, "copier 2 finishing the input")
        if panel.copiers[2].alive:
            panel.kill(2)
        panel.verify()
        assert panel.report is not None and panel.report.duplicated and not panel.report.lost, panel.status_text
    finally:
        panel.close()


def test_the_panel_refuses_what_it_cannot_do_in_one_line(kafka_bootstrap: str,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    panel = GroupPanel(records=10)
    try:
        with pytest.raises(EoslabError, match="copier 4: the panel has copiers 1 to 3"):
            panel.start(4)
        with pytest.raises(EoslabError, match="copier 2 is not running"):
            panel.pause(2)
        with pytest.raises(EoslabError, match="mode 'twice'"):
            GroupPanel(records=10, mode="twice")
        panel.group_buttons["Kill (SIGKILL)"].click()  # nothing running: one line in the log, no exception
        printed = capsys.readouterr().out
        assert "copier 1 is not running" in printed and "Traceback" not in printed
    finally:
        panel.close()
