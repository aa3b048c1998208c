"""`eoslab grade` as a learner meets it: honest totals, feedback in reach that leaks no hidden test,
"wrong" vs "partial credit", every run recorded for `eoslab progress`, and quiet output.

The fast tests build reports from small notebooks (no broker); the slow ones grade real notebooks
through the command line against the session's broker, in a copy of the course
(``EOSLAB_COURSE_ROOT``) with a progress file of their own, and check the learner's file is never
changed (sha256).
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from course_copy import course_repo_copy
from eoslab.grading.feedback import learner_page
from eoslab.grading.generate import generate, reset
from eoslab.grading.progress import Attempt, attempts, record_attempt
from eoslab.grading.report import build_report, graded_cells, hidden_lines, likely_cause
from eoslab.grading.variants import answer_cells, with_answers
from eoslab.grading.widget import feedback_link

REPO = Path(__file__).resolve().parent.parent


def _graded(grade_id: str, points: float, source: str = "pass", outputs: list | None = None) -> nbformat.NotebookNode:
    cell = new_code_cell(source, metadata={"nbgrader": {"grade": True, "grade_id": grade_id, "points": points,
                                                        "locked": True, "solution": False, "schema_version": 3}})
    cell.outputs = outputs or []
    return cell


def _error(ename: str, evalue: str) -> nbformat.NotebookNode:
    return nbformat.from_dict({"output_type": "error", "ename": ename, "evalue": evalue,
                               "traceback": ["the source line that failed"]})


def _stdout(text: str) -> nbformat.NotebookNode:
    return nbformat.from_dict({"output_type": "stream", "name": "stdout", "text": text})


SOURCE_CELLS = [
    _graded("first_works", 2, '"""first does its job.\n\nMore."""\nassert first()\n### BEGIN HIDDEN TESTS\n'
                              'assert first(secret_argument=41) == 42\n### END HIDDEN TESTS'),
    _graded("second_works", 3, '"""second does its job."""\nassert second()'),
    _graded("quiz_one", 1, '"""Question 1: which one."""\nscore_single(answer, correct="b")'),
]


def _executed(tmp_path: Path, cells: list[nbformat.NotebookNode]) -> Path:
    path = tmp_path / "autograded.ipynb"
    nbformat.write(new_notebook(cells=cells), path)
    return path


# ---- honest totals, wording, likely causes (no broker) -------------------------------------------

def test_a_deleted_graded_cell_counts_zero_and_is_named(tmp_path: Path) -> None:
    executed = _executed(tmp_path, [SOURCE_CELLS[0], SOURCE_CELLS[2]])  # the learner deleted second_works
    scores = {"first_works": (2.0, 2.0, 2.0), "quiz_one": (1.0, 1.0, 1.0)}
    graded = graded_cells(new_notebook(cells=SOURCE_CELLS))
    report = build_report("00-x", "learner", executed, scores, None, 30, graded)
    assert (report.total, report.max_total) == (3, 6), report.table()
    assert [cell.grade_id for cell in report.cells] == ["first_works", "second_works", "quiz_one"]
    assert report.by_id()["second_works"].missing and report.by_id()["second_works"].points == 0
    assert "graded cell `second_works` was missing: 0 / 3" in report.table()
    assert re.search(r"total\s+3 / 6", report.table()), report.table()
    # What the report said before: only the cells present counted, a perfect 3 / 3.
    only_present = build_report("00-x", "learner", executed, scores, None, 30)
    assert only_present.max_total == 3


def test_zero_is_wrong_and_some_is_partial_credit_with_the_reason(tmp_path: Path) -> None:
    cells = [_graded("first_works", 2, outputs=[_error("AssertionError", "2 duplicated records in the output")]),
             _graded("second_works", 3, outputs=[_stdout("1 of 3 right\n")]),
             _graded("quiz_one", 1, outputs=[_stdout("Not quite: the answer is (b). Because.\n")])]
    scores = {"first_works": (0.0, 2.0, 0.0), "second_works": (1.0, 3.0, 1.0), "quiz_one": (0.0, 1.0, 0.0)}
    report = build_report("00-x", "learner", _executed(tmp_path, cells), scores, None, 30,
                          graded_cells(new_notebook(cells=SOURCE_CELLS)))
    by_id = report.by_id()
    assert by_id["quiz_one"].verdict == "wrong" and "Not quite: the answer is (b)" in by_id["quiz_one"].why
    assert by_id["second_works"].verdict == "partial credit" and "1 of 3 right" in by_id["second_works"].why
    assert by_id["first_works"].why.startswith("wrong: AssertionError: 2 duplicated")
    assert "offsets you send" in by_id["first_works"].reason, "duplicates point at the offsets"
    rows = {line.split()[0]: line for line in report.table().splitlines() if line.strip()}
    assert "wrong: Not quite" in rows["quiz_one"] and "partial credit: 1 of 3" in rows["second_works"]


@pytest.mark.parametrize("failure, cause", [
    ("AssertionError: 20 lost after 1 aborts", "rewind"),
    ("AssertionError: 3 records lost", "flush"),
    ("NameError: name 'process_batch' is not defined", "`process_batch` did not exist"),
    ("KafkaException: KafkaError{code=_FENCED}", "transactional.id"),
    ("TimeoutError: no record within 10 s", "deadline"),
    ("AssertionError", "contract"),
])
def test_reasons_point_at_the_likely_cause(failure: str, cause: str) -> None:
    assert cause in likely_cause(failure)


def test_no_cause_is_invented_for_an_unknown_failure() -> None:
    assert likely_cause("ValueError: something else entirely") == ""


# ---- the feedback page (no broker) ---------------------------------------------------------------

def test_the_feedback_page_names_cells_by_docstring_and_never_shows_hidden_test_lines(tmp_path: Path) -> None:
    hidden = hidden_lines(SOURCE_CELLS[0].source)
    assert hidden == ("assert first(secret_argument=41) == 42",)
    leaking = _graded("first_works", 2, outputs=[_error("AssertionError", "first is wrong"),
                                                 _stdout("assert first(secret_argument=41) == 42\nfine line\n")])
    report = build_report("00-x", "learner", _executed(tmp_path, [leaking, SOURCE_CELLS[1], SOURCE_CELLS[2]]),
                          {"first_works": (0.0, 2.0, 0.0), "second_works": (3.0, 3.0, 3.0), "quiz_one": (1.0, 1.0, 1.0)},
                          None, 30, graded_cells(new_notebook(cells=SOURCE_CELLS)))
    page = html.unescape(learner_page(report, {"first_works": hidden}))
    assert "first does its job." in page and "second does its job." in page and "Question 1: which one." in page
    assert "More." not in page, "only the docstring's first line names a cell"
    assert "first is wrong" in page and "fine line" in page
    assert "secret_argument" not in page and "the source line that failed" not in page, "no hidden line, no traceback"
    assert "Test cell" not in page


def test_the_feedback_folder_is_git_ignored() -> None:
    done = subprocess.run(["git", "check-ignore", "-q", "course/00-orientation/feedback/00-orientation.html"],
                          cwd=REPO, timeout=30)
    assert done.returncode == 0, "add /course/*/feedback/ to .gitignore"


@pytest.fixture
def course_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the course (00 and 10, no git history) the commands may change."""
    root = course_repo_copy(tmp_path / "course-repo", "00-orientation", "10-quiz")
    monkeypatch.setenv("EOSLAB_COURSE_ROOT", str(root))
    monkeypatch.setenv("EOSLAB_PROGRESS_FILE", str(tmp_path / "progress.json"))
    return root


def test_generate_and_reset_keep_the_feedback_page(course_copy: Path) -> None:
    generate(["00-orientation"])
    page = course_copy / "course" / "00-orientation" / "feedback" / "00-orientation.html"
    page.parent.mkdir()
    page.write_text("<p>my feedback</p>")
    assert generate(["00-orientation"])[0].action == "unchanged"
    assert generate(["00-orientation"], force=True)[0].action in ("written", "unchanged")
    reset("00-orientation")
    assert page.read_text() == "<p>my feedback</p>"


def test_a_kept_workspace_is_reused_only_while_its_source_is_unchanged(course_copy: Path) -> None:
    from eoslab.grading.workspace import GradingWorkspace

    folder = course_copy / ".nbgrader" / "self-grade" / "00-orientation"
    GradingWorkspace("00-orientation", directory=folder, root=course_copy, reuse=True).generate()
    marker = folder / "release" / "00-orientation" / "left-by-the-first-run"
    marker.write_text("x")
    again = GradingWorkspace("00-orientation", directory=folder, root=course_copy, reuse=True)
    assert again.generate().is_file() and marker.exists(), "same source: generated once, kept"
    source = course_copy / "solutions" / "00-orientation" / "00-orientation.ipynb"
    source.write_text(source.read_text().replace("Orientation", "Orientation, edited", 1))
    changed = GradingWorkspace("00-orientation", directory=folder, root=course_copy, reuse=True)
    assert not marker.exists(), "a changed source starts afresh"
    assert "Orientation, edited" in changed.generate().read_text()
    marker.write_text("x")
    GradingWorkspace("00-orientation", directory=folder, root=course_copy)
    assert not marker.exists(), "without reuse, always afresh"


def test_the_grade_button_links_the_feedback_page_it_was_told() -> None:
    out = "total 4 / 8\n\nfeedback: feedback/00-orientation.html\n"
    assert feedback_link(out) == "feedback/00-orientation.html"
    assert feedback_link("feedback: /somewhere/else/00.html\n") is None, "an absolute path is no JupyterLab link"
    assert feedback_link("eoslab: error: no broker\n") is None


# ---- eoslab progress -----------------------------------------------------------------------------

def _cli(*args: str, env: dict[str, str], cwd: Path = REPO, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "eoslab", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=timeout)


def test_progress_prints_the_latest_attempt_per_assignment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EOSLAB_PROGRESS_FILE", str(tmp_path / "progress.json"))
    record_attempt(Attempt("00-orientation", 4, 8, "2026-01-01T10:00:00Z", "00-orientation/feedback/00-orientation.html"))
    record_attempt(Attempt("00-orientation", 8, 8, "2026-01-01T11:00:00Z", "00-orientation/feedback/00-orientation.html"))
    record_attempt(Attempt("01-delivery-semantics", 3, 10, "2026-01-01T12:00:00Z", None))
    env = {**os.environ, "EOSLAB_PROGRESS_FILE": str(tmp_path / "progress.json")}
    shown = _cli("progress", env=env)
    assert shown.returncode == 0, shown.stderr
    rows = {line.split()[0]: line for line in shown.stdout.splitlines() if line[:2].isdigit()}
    assert "done" in rows["00-orientation"] and "8 / 8" in rows["00-orientation"]
    assert "course/00-orientation/feedback/00-orientation.html" in rows["00-orientation"]
    assert "in progress" in rows["01-delivery-semantics"] and "3 / 10" in rows["01-delivery-semantics"]
    assert "not graded yet" in rows["03-idempotent-producer"]
    assert "1 of " in shown.stdout
    as_json = json.loads(_cli("progress", "--json", env=env).stdout)
    by_name = {row["assignment"]: row for row in as_json["assignments"]}
    assert by_name["00-orientation"]["score"] == 8 and by_name["00-orientation"]["status"] == "done"
    assert by_name["00-orientation"]["graded_at"] == "2026-01-01T11:00:00Z"
    assert by_name["03-idempotent-producer"]["score"] is None


def test_progress_without_any_history_says_not_graded_yet(tmp_path: Path) -> None:
    env = {**os.environ, "EOSLAB_PROGRESS_FILE": str(tmp_path / "none.json")}
    shown = _cli("progress", env=env)
    assert shown.returncode == 0 and shown.stdout.count("not graded yet") >= 9, shown.stdout + shown.stderr


# ---- real grading runs (the session broker) ------------------------------------------------------

def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _hidden_of(assignment: str) -> list[str]:
    source = nbformat.read(REPO / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    return [line for cell in source.cells for line in hidden_lines(cell.source) if len(line) >= 4]


def _leaked(page: Path, hidden: list[str]) -> list[str]:
    """Hidden lines found in the page's text (tags removed: highlighted code splits into spans)."""
    text = html.unescape(re.sub(r"<[^>]+>", "", page.read_text(encoding="utf-8")))
    return [line for line in hidden if line in text]


@pytest.mark.broker
@pytest.mark.slow
def test_grading_00_counts_a_deleted_cell_words_its_verdicts_records_and_leaks_nothing(
        kafka_bootstrap: str, course_copy: Path, tmp_path: Path) -> None:
    solution = nbformat.read(REPO / "solutions" / "00-orientation" / "00-orientation.ipynb", as_version=4)
    notebook = with_answers(solution, {"quiz_answers": 'answer_default_isolation = "b"\nanswer_commit_sync = "a"\n'
                                                       'answer_defaults = {"a"}\n'})
    notebook.cells = [cell for cell in notebook.cells
                      if cell.metadata.get("nbgrader", {}).get("grade_id") != "read_values_works"]
    folder = course_copy / "course" / "00-orientation"
    folder.mkdir(parents=True)
    learner = folder / "00-orientation.ipynb"
    nbformat.write(notebook, learner)
    before = _sha(learner)
    env = {**os.environ, "EOSLAB_COURSE_ROOT": str(course_copy), "EOSLAB_PROGRESS_FILE": str(tmp_path / "progress.json")}
    started = time.monotonic()
    run = _cli("grade", "00-orientation", env=env, cwd=folder, timeout=600)  # as `!eoslab grade` in a cell runs
    print(f"graded 00 in {time.monotonic() - started:.1f} s\n{run.stdout}")
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stderr.strip() == "", f"grading must be quiet; stderr:\n{run.stderr[-3000:]}"
    rows = {line.split()[0]: line for line in run.stdout.splitlines() if line.strip()}
    assert re.search(r"total\s+4 / 8", run.stdout), run.stdout
    assert " 0 / 2" in rows["read_values_works"] and "missing" in rows["read_values_works"]
    assert "graded cell `read_values_works` was missing: 0 / 2" in run.stdout
    assert "wrong: Not quite" in rows["quiz_commit_sync"], run.stdout
    assert "partial credit" in rows["quiz_defaults"], run.stdout
    assert "feedback: feedback/00-orientation.html" in run.stdout.splitlines(), "relative to the cwd"
    page = folder / "feedback" / "00-orientation.html"
    assert page.is_file()
    text = html.unescape(page.read_text())
    for cell in graded_cells(solution):
        assert cell.title in text, f"{cell.grade_id} is named by its docstring"
    hidden = _hidden_of("00-orientation")
    assert hidden, "00's solution has hidden tests"
    assert _leaked(page, hidden) == [], "the learner's page shows hidden test source"
    executed = course_copy / ".nbgrader" / "self-grade" / "00-orientation" / "autograded" / "learner" / \
        "00-orientation" / "00-orientation.ipynb"
    executed_text = "\n".join(cell.source for cell in nbformat.read(executed, as_version=4).cells)
    assert [line for line in hidden if line in executed_text], "the check finds hidden lines where they are"
    recorded = attempts()
    assert [(a.assignment, a.score, a.max_score, a.feedback) for a in recorded] == [
        ("00-orientation", 4.0, 8.0, "00-orientation/feedback/00-orientation.html")]
    assert _sha(learner) == before, "the learner's notebook is never modified"


def _all_answers_a(solution: nbformat.NotebookNode) -> dict[str, str]:
    return {grade_id: re.sub(r'= "[a-d]"', '= "a"', cell.source.split("### BEGIN SOLUTION")[-1].split(
        "### END SOLUTION")[0]) for grade_id, cell in answer_cells(solution).items()}


@pytest.mark.broker
@pytest.mark.slow
def test_the_quiz_feedback_page_shows_no_hidden_test_line(kafka_bootstrap: str, course_copy: Path,
                                                          tmp_path: Path) -> None:
    from eoslab.grading.selfgrade import grade_notebook

    solution = nbformat.read(REPO / "solutions" / "10-quiz" / "10-quiz.ipynb", as_version=4)
    learner = tmp_path / "my-10.ipynb"
    nbformat.write(with_answers(solution, _all_answers_a(solution)), learner)
    report = grade_notebook("10-quiz", learner)
    assert report.feedback == course_copy / "course" / "10-quiz" / "feedback" / "10-quiz.html"
    assert 0 < report.total < report.max_total, report.table()
    assert _leaked(report.feedback, _hidden_of("10-quiz")) == []
    assert "wrong" in report.feedback.read_text() and "Test cell" not in report.feedback.read_text()


def test_a_second_grading_run_of_the_same_assignment_is_refused_while_one_runs(tmp_path: Path) -> None:
    from eoslab.errors import EoslabError
    from eoslab.grading.selfgrade import _one_run_at_a_time

    with _one_run_at_a_time(tmp_path, "00-orientation"):
        with pytest.raises(EoslabError, match="another grading run of 00-orientation is in progress"):
            with _one_run_at_a_time(tmp_path, "00-orientation"):
                pass
        with _one_run_at_a_time(tmp_path, "01-delivery-semantics"):
            pass  # another assignment may be graded at the same time
    with _one_run_at_a_time(tmp_path, "00-orientation"):
        pass  # released
