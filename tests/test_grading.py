"""The grading commands: course/ matches solutions/, generation never loses work, errors for people.

Generation runs no notebook (nbgrader only rewrites cells), so these tests need no broker, except
the last, which grades an endless loop through `eoslab grade` like a learner would.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course_copy import course_repo_copy
from eoslab.errors import EoslabError
from eoslab.grading.course import assignments, check_assignment, source_notebook, student_notebook
from eoslab.grading.generate import generate, reset, same_notebook, student_version
from eoslab.grading.variants import answer_cells, with_endless_loop

REPO = Path(__file__).resolve().parent.parent
ASSIGNMENTS = assignments(REPO)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_committed_student_version_is_what_generate_makes(assignment: str) -> None:
    committed = student_notebook(assignment, REPO)
    assert committed.exists(), f"run `eoslab instructor generate {assignment}` and commit course/{assignment}"
    workspace = student_version(assignment, REPO)
    try:
        fresh = workspace.release_folder / f"{assignment}.ipynb"
        assert same_notebook(committed, fresh), f"course/{assignment} is stale: run `eoslab instructor generate {assignment}`"
    finally:
        shutil.rmtree(workspace.directory, ignore_errors=True)
    for cell in nbformat.read(committed, as_version=4).cells:
        assert cell.get("outputs", []) == [] and cell.get("execution_count") is None, "commit notebooks without outputs"


@pytest.fixture
def course_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the course (no git history) that the commands may change."""
    root = course_repo_copy(tmp_path / "course-repo", "00-orientation")
    monkeypatch.setenv("EOSLAB_COURSE_ROOT", str(root))
    return root


def test_generate_refuses_to_overwrite_work_unless_forced(course_copy: Path) -> None:
    assert [outcome.action for outcome in generate(["00-orientation"])] == ["written"]
    notebook = course_copy / "course" / "00-orientation" / "00-orientation.ipynb"
    assert generate(["00-orientation"])[0].action == "unchanged"
    work = nbformat.read(notebook, as_version=4)
    answer_cells(work)["produce_values"].source = "def produce_values(topic, values):\n    return 42  # my work\n"
    nbformat.write(work, notebook)
    assert generate(["00-orientation"])[0].action == "refused"
    assert "my work" in notebook.read_text(), "a refused generation leaves the learner's notebook alone"
    forced = generate(["00-orientation"], force=True)[0]
    assert forced.action == "written" and forced.backup is not None
    assert "my work" in forced.backup.read_text() and "my work" not in notebook.read_text()


def test_reset_keeps_a_backup_and_restores_a_fresh_copy(course_copy: Path) -> None:
    generate(["00-orientation"])
    notebook = course_copy / "course" / "00-orientation" / "00-orientation.ipynb"
    notebook.write_text(notebook.read_text().replace("raise NotImplementedError()", "return 'mine'", 1))
    fresh, saved = reset("00-orientation")
    assert saved is not None and "return 'mine'" in saved.read_text()
    assert "return 'mine'" not in fresh.read_text()


def test_unknown_assignment_lists_the_assignments() -> None:
    with pytest.raises(EoslabError, match="the assignments are: .*00-orientation"):
        check_assignment("99-nope", REPO)
    run = subprocess.run([sys.executable, "-m", "eoslab", "grade", "99-nope"], capture_output=True, text=True,
                         cwd=REPO, timeout=60)
    assert run.returncode == 1 and "00-orientation" in run.stderr and "Traceback" not in run.stderr


def test_missing_notebook_says_so(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "eoslab", "grade", "00-orientation", str(tmp_path / "gone.ipynb")],
                         capture_output=True, text=True, cwd=REPO, timeout=60)
    assert run.returncode == 1 and "no notebook at" in run.stderr and "Traceback" not in run.stderr


@pytest.mark.broker
@pytest.mark.slow
def test_eoslab_grade_reports_an_endless_loop_and_grades_the_rest(kafka_bootstrap: str, tmp_path: Path) -> None:
    solution = nbformat.read(source_notebook("00-orientation", REPO), as_version=4)
    learner = tmp_path / "my-00.ipynb"
    nbformat.write(with_endless_loop(solution, "read_values"), learner)
    before = hashlib.sha256(learner.read_bytes()).hexdigest()
    run = subprocess.run([sys.executable, "-m", "eoslab", "grade", "00-orientation", str(learner), "--cell-timeout", "15"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=300, env={**os.environ})
    assert run.returncode == 0, run.stderr[-2000:]
    rows = {line.split()[0]: line for line in run.stdout.splitlines() if line and line.split()[0].endswith(("works", "_isolation", "_sync", "_defaults"))}
    assert "timed out" in rows["read_values_works"] and " 0 / 2" in rows["read_values_works"], run.stdout
    assert " 2 / 2" in rows["produce_values_works"] and " 2 / 2" in rows["quiz_defaults"], run.stdout
    feedback = Path(run.stdout.split("feedback: ")[1].split()[0])
    assert (REPO / feedback if not feedback.is_absolute() else feedback).exists() or (tmp_path / feedback).exists()
    assert hashlib.sha256(learner.read_bytes()).hexdigest() == before, "the learner's notebook is never modified"
