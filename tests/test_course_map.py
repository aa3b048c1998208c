"""The way in and the way through, without a browser: start page, map, Next links, progress, clean tabs.

- course/START.ipynb's map is what the assignments' titles make (renumbering without
  `eoslab instructor generate` fails here), and nothing that grades or generates sees START;
- every notebook ends with a Next link to the following assignment (strict xfail for the ones
  tests/learner_path_status.py lists);
- the progress table shows a learner's attempts from the progress file and redraws by itself when
  a grading run records a new one;
- the contents manager hands JupyterLab notebooks with the kernel's language_info (what kept
  every tab "unsaved" on open) and leaves the file alone.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import nbformat
import pytest
from learner_path_status import per_assignment

from eoslab.grading.course import assignments, student_notebook
from eoslab.grading.coursemap import (START_PAGE, course_map, map_markdown, next_entry, next_link_target,
                                      start_page_is_current)

REPO = Path(__file__).resolve().parent.parent
ASSIGNMENTS = assignments(REPO)


def test_the_start_page_map_lists_every_assignment_from_its_title() -> None:
    assert start_page_is_current(REPO), "course/START.ipynb's map is stale: run `eoslab instructor generate`"
    entries = course_map(REPO)
    assert [entry.name for entry in entries] == ASSIGNMENTS
    assert all(entry.promise for entry in entries), [entry.name for entry in entries if not entry.promise]
    table = map_markdown(entries)
    for entry in entries:
        assert f"]({entry.name}/{entry.name}.ipynb)" in table


def test_the_start_page_is_no_assignment() -> None:
    assert (REPO / "course" / START_PAGE).is_file()
    assert "START" not in " ".join(ASSIGNMENTS)
    notebook = nbformat.read(REPO / "course" / START_PAGE, as_version=4)
    assert not any(cell.metadata.get("nbgrader") for cell in notebook.cells), "START.ipynb is hand-written, not graded"
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"), "commit it without outputs"


@pytest.mark.parametrize("assignment", per_assignment("next_link", ASSIGNMENTS))
def test_every_notebook_ends_with_a_next_link(assignment: str) -> None:
    following = next_entry(assignment, REPO)
    expected = f"../{following.notebook}" if following else f"../{START_PAGE}"
    for notebook in (student_notebook(assignment, REPO), REPO / "solutions" / assignment / f"{assignment}.ipynb"):
        target = next_link_target(nbformat.read(notebook, as_version=4))
        assert target == expected, f"{notebook.relative_to(REPO)} should end with **Next:** [...]({expected}), has {target}"


def _attempt(assignment: str, score: float, max_score: float, graded_at: str, feedback: str | None = None) -> dict:
    return {"assignment": assignment, "score": score, "max_score": max_score, "graded_at": graded_at,
            "feedback": feedback}


def test_the_progress_table_shows_attempts_and_redraws_when_one_is_recorded(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from eoslab.grading.progress import Attempt, record_attempt
    from eoslab.widgets import ProgressTable

    progress = tmp_path / "progress.json"
    progress.write_text(json.dumps({"version": 1, "attempts": [
        _attempt("00-orientation", 7, 7, "2026-01-01T10:00:00Z", "00-orientation/feedback/00-orientation.html"),
        _attempt("01-delivery-semantics", 2, 10, "2026-01-01T11:00:00Z")]}))
    monkeypatch.setenv("EOSLAB_PROGRESS_FILE", str(progress))
    table = ProgressTable(root=REPO)
    try:
        rows = {row["assignment"]: row for row in table.rows()}
        assert rows["00-orientation"]["status"] == "done"
        assert rows["01-delivery-semantics"]["status"] == "in progress"
        assert rows["03-idempotent-producer"]["status"] == "not graded yet"
        page = table.table.outputs[0]["data"]["text/html"]
        assert "href='00-orientation/feedback/00-orientation.html'" in page
        assert "href='01-delivery-semantics/01-delivery-semantics.ipynb'" in page
        assert "1 of" in table.summary.value

        record_attempt(Attempt("01-delivery-semantics", 10, 10, "2026-01-01T12:00:00Z", None))
        deadline = time.monotonic() + 15
        while "2 of" not in table.summary.value and time.monotonic() < deadline:
            time.sleep(0.1)  # polling interval: the loop re-checks the widget
        assert "2 of" in table.summary.value, table.summary.value
    finally:
        table.close()
        table.close()  # idempotent


def test_a_broken_progress_file_reads_as_no_attempts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from eoslab.widgets import ProgressTable

    broken = tmp_path / "progress.json"
    broken.write_text("{ not json")
    monkeypatch.setenv("EOSLAB_PROGRESS_FILE", str(broken))
    table = ProgressTable(root=REPO, watch=False)
    assert {row["status"] for row in table.rows()} == {"not graded yet"}
    table.close()


def test_notebooks_reach_jupyterlab_with_the_kernels_language_info(tmp_path: Path) -> None:
    from eoslab.grading.contents import CourseContentsManager, kernel_language_info

    notebook = tmp_path / "n.ipynb"
    nbformat.write(nbformat.v4.new_notebook(metadata={"language_info": {"name": "python"}}), notebook)
    before = notebook.read_bytes()
    manager = CourseContentsManager(root_dir=str(tmp_path))
    model = asyncio.run(manager.get("n.ipynb"))
    assert model["content"]["metadata"]["language_info"] == kernel_language_info()
    assert "version" in kernel_language_info()
    assert notebook.read_bytes() == before, "reading must not change the file"
