"""07's exercise harness: the reference member copies exactly once as a group under every strike;
a member that raises ends the run at once with its error named; the stub is refused before anything starts.

The reference is read from the solution notebook's answer cell, so it is the code learners are
graded against. What the wrong answers lose (no callbacks, offsets outside the transaction, assign())
is proven by tests/test_grading_integrity.py with tests/wrong_answers/07-consumer-groups.json.
"""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest

from eoslab.grading.course import source_notebook
from eoslab.grading.variants import answer_cells
from eoslab.lessons.unwritten import NotDoneYet
from eoslab.workers.member_harness import run_members

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK_IMPORTS = ("from confluent_kafka import KafkaError, KafkaException, TopicPartition\n"
                    "from eoslab.lessons import rewind_to_committed\n")

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def _define(source: str, path: Path) -> dict:
    """Define the answer as a notebook cell does: in a namespace of its own, its source findable."""
    namespace: dict = {"__name__": "__main__"}
    path.write_text(NOTEBOOK_IMPORTS + source)
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    return namespace


def _reference_source() -> str:
    solution = nbformat.read(source_notebook("07-consumer-groups", REPO), as_version=4)
    return answer_cells(solution)["copy_as_member"].source


@pytest.mark.timeout(240)
def test_the_reference_member_copies_exactly_once_through_a_kill_a_join_a_zombie_and_a_self_kill(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    copy_as_member = _define(_reference_source(), tmp_path / "cell.py")["copy_as_member"]
    result = run_members(copy_as_member)
    assert result.exactly_once, result.describe()
    # The kill strike restarts its member in place; restarts counts members that ended by themselves:
    # instance 0, killed by its own kill point right after a commit_transaction().
    assert len(result.strikes) == 3 and result.restarts >= 1, result.describe()
    assert not result.member_errors, result.member_errors
    assert result.report is not None and result.report.received == result.records


@pytest.mark.timeout(120)
def test_a_member_that_raises_ends_the_run_with_its_error(kafka_bootstrap: str, tmp_path: Path) -> None:
    broken = _define('def copy_as_member(consumer, producer, input_topic, output_topic, transform, keep_going):\n'
                     '    raise ValueError("the learner\'s bug")\n', tmp_path / "cell.py")["copy_as_member"]
    started = time.monotonic()
    result = run_members(broken, records=60, plan=(), self_kill=None, timeout_s=60)
    assert not result.exactly_once
    assert any("ValueError: the learner's bug" in error for error in result.member_errors), result.describe()
    assert time.monotonic() - started < 30, "a raising member ends the run, it does not wait out the deadline"


def test_the_stub_is_refused_before_any_process_starts(tmp_path: Path) -> None:
    stub = _define('def copy_as_member(consumer, producer, input_topic, output_topic, transform, keep_going):\n'
                   '    # YOUR CODE HERE\n    raise NotImplementedError()\n', tmp_path / "cell.py")["copy_as_member"]
    with pytest.raises(NotDoneYet):
        run_members(stub)
