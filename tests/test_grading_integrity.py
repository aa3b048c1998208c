"""Every grader can fail: generic over each ``solutions/NN-slug/`` (a new folder joins every check).

For each assignment, against the real broker (the session fixture's):

- the reference solution earns full marks on every graded cell with its demo cells skipped (as
  every grading run skips them: eoslab.grading.demos), and nbgrader's Validator finds no failing
  test in it;
- the blank student version earns zero on every autograded cell, and the Validator (inverted)
  finds no passing test in it: no solution leaked into the student version;
- every graded cell is named by at least one wrong answer in ``tests/wrong_answers/NN-slug.json``,
  and each wrong answer, applied to the student version, scores below full marks on the cells it
  names (wrong answers for different answer cells share one autograde run: CI time);
- every correct alternative in the same file (``correct_alternatives``: synonyms, other loop
  shapes, other SQL forms), swapped into the reference solution, keeps full marks everywhere;
- an endless loop in one answer (00-orientation: it costs a cell timeout) is interrupted: that
  answer's cells score zero with a "timed out" reason, every other cell keeps its points.

Each autograde executes the notebook with its hidden tests, its demo cells skipped (~8 s for 00-orientation).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator

import nbformat
import pytest

from eoslab.grading.course import assignments, source_notebook
from eoslab.grading.demos import demo_sources
from eoslab.grading.report import GradeReport
from eoslab.grading.validation import failed_cells, passed_cells
from eoslab.grading.variants import (answer_cells, graded_cells, load_correct_alternatives, load_wrong_answers,
                                     rounds, with_answers, with_endless_loop)
from eoslab.grading.workspace import GradingWorkspace

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

ASSIGNMENTS = assignments(REPO)
LOOP_ASSIGNMENTS = [name for name in ASSIGNMENTS if name == "00-orientation"]
LOOP_CELL_TIMEOUT_S = 12  # 00-orientation's cells take < 5 s; two cells call the looping answer

pytestmark = [pytest.mark.broker, pytest.mark.slow]


@pytest.fixture(scope="module")
def workspaces(kafka_bootstrap: str) -> Iterator[dict[str, GradingWorkspace]]:
    created: dict[str, GradingWorkspace] = {}
    yield created
    for workspace in created.values():
        shutil.rmtree(workspace.directory, ignore_errors=True)


def _workspace(workspaces: dict[str, GradingWorkspace], assignment: str) -> GradingWorkspace:
    if assignment not in workspaces:
        workspaces[assignment] = GradingWorkspace(assignment, root=REPO)
    return workspaces[assignment]


def _timed_grade(workspace: GradingWorkspace, notebook: nbformat.NotebookNode | object, student: str) -> GradeReport:
    started = time.monotonic()
    report = workspace.grade(notebook, student)  # type: ignore[arg-type]
    print(f"autograde {workspace.assignment} as {student}: {time.monotonic() - started:.1f} s")
    return report


def _scores(report: GradeReport) -> str:
    return "\n" + report.table()


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solution_earns_full_marks(workspaces: dict[str, GradingWorkspace], assignment: str) -> None:
    workspace = _workspace(workspaces, assignment)
    report = _timed_grade(workspace, source_notebook(assignment, REPO), "solution")
    source_graded = graded_cells(nbformat.read(source_notebook(assignment, REPO), as_version=4))
    assert [cell.grade_id for cell in report.cells] == list(source_graded), "every graded cell was graded"
    assert report.cells, f"{assignment} has no graded cells"
    assert all(cell.full for cell in report.cells), _scores(report)
    solution = nbformat.read(source_notebook(assignment, REPO), as_version=4)
    assert report.demos_skipped == list(demo_sources(solution)), "full marks with every demo cell skipped"
    assert failed_cells(nbformat.read(report.autograded, as_version=4)) == [], "nbgrader's Validator: failing tests"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_blank_student_version_earns_zero(workspaces: dict[str, GradingWorkspace], assignment: str) -> None:
    workspace = _workspace(workspaces, assignment)
    report = _timed_grade(workspace, workspace.student_version(), "blank")
    autograded = [cell for cell in report.cells if cell.points is not None]
    assert autograded, f"{assignment} has no autograded cells"
    assert all(cell.points == 0 for cell in autograded), _scores(report)
    leaked = passed_cells(nbformat.read(report.autograded, as_version=4))
    assert leaked == [], f"tests pass on the student version (a solution leaked into it?): {leaked}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_graded_cell_has_a_wrong_answer(assignment: str) -> None:
    solution = nbformat.read(source_notebook(assignment, REPO), as_version=4)
    wrong_answers = load_wrong_answers(REPO, assignment)
    assert wrong_answers, f"add tests/wrong_answers/{assignment}.json (format: the notebook conventions)"
    covered = {grade_id for wrong in wrong_answers for grade_id in wrong.loses_points_in}
    assert set(graded_cells(solution)) - covered == set(), "graded cells that no wrong answer proves can fail"
    assert covered - set(graded_cells(solution)) == set(), "wrong answers name cells that are not graded"
    assert {wrong.answer_cell for wrong in wrong_answers} <= set(answer_cells(solution)), "unknown answer cells"


@pytest.mark.timeout(900)  # one autograde round per wrong answer of the busiest cell, 30-60 s each under load
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_wrong_answers_lose_points(workspaces: dict[str, GradingWorkspace], assignment: str) -> None:
    wrong_answers = load_wrong_answers(REPO, assignment)
    if not wrong_answers:
        pytest.fail(f"no wrong answers for {assignment}: add tests/wrong_answers/{assignment}.json")
    workspace = _workspace(workspaces, assignment)
    student = workspace.student_version()
    not_caught = []
    for number, group in enumerate(rounds(wrong_answers)):
        variant = with_answers(student, {wrong.answer_cell: wrong.source for wrong in group})
        report = _timed_grade(workspace, variant, f"wrong-{number}").by_id()
        for wrong in group:
            for grade_id in wrong.loses_points_in:
                if report[grade_id].full:
                    not_caught.append(f"{grade_id} gave full marks to: {wrong.why}")
    assert not_caught == []


WITH_ALTERNATIVES = [name for name in ASSIGNMENTS if load_correct_alternatives(REPO, name)]


@pytest.mark.timeout(900)  # one autograde round per wrong answer of the busiest cell, 30-60 s each under load
@pytest.mark.parametrize("assignment", WITH_ALTERNATIVES)
def test_correct_alternatives_earn_full_marks(workspaces: dict[str, GradingWorkspace], assignment: str) -> None:
    """A right answer written another way (a synonym librdkafka accepts, another loop shape) is not marked down.

    Each alternative replaces its answer cell in the reference solution; every graded cell must
    still give full marks (alternatives for different answer cells share one autograde run).
    """
    alternatives = load_correct_alternatives(REPO, assignment)
    workspace = _workspace(workspaces, assignment)
    solution = nbformat.read(source_notebook(assignment, REPO), as_version=4)
    marked_down = []
    for number, group in enumerate(rounds(alternatives)):
        variant = with_answers(solution, {alternative.answer_cell: alternative.source for alternative in group})
        report = _timed_grade(workspace, variant, f"alternative-{number}")
        lost = [cell for cell in report.cells if not cell.full]
        if lost:
            tried = "; ".join(f"{alternative.answer_cell}: {alternative.why}" for alternative in group)
            marked_down.append(f"round {number} ({tried}) lost points in "
                               + ", ".join(f"{cell.grade_id} ({cell.reason})" for cell in lost))
    assert marked_down == []


@pytest.mark.parametrize("assignment", LOOP_ASSIGNMENTS)
def test_endless_loop_costs_only_its_exercise(kafka_bootstrap: str, tmp_path, assignment: str) -> None:
    solution = nbformat.read(source_notebook(assignment, REPO), as_version=4)
    looping_answer = next(iter(answer_cells(solution)))
    dependent = {grade_id for wrong in load_wrong_answers(REPO, assignment) if wrong.answer_cell == looping_answer
                 for grade_id in wrong.loses_points_in}
    workspace = GradingWorkspace(assignment, directory=tmp_path / "grading", root=REPO,
                                 cell_timeout_s=LOOP_CELL_TIMEOUT_S)
    started = time.monotonic()
    report = workspace.grade(with_endless_loop(solution, looping_answer), "looping")
    elapsed = time.monotonic() - started
    print(f"autograde {assignment} with an endless loop: {elapsed:.1f} s")
    assert elapsed < 60 + LOOP_CELL_TIMEOUT_S * max(1, len(dependent)), "grading must end within a bound"
    for cell in report.cells:
        if cell.grade_id in dependent:
            assert cell.points == 0 and cell.timed_out, _scores(report)
        else:
            assert cell.full, _scores(report)
