"""Run All on every blank student notebook reaches its last cell, as a new learner presses it.

For each assignment: a fresh copy of its committed student notebook (nothing written yet) is
opened in JupyterLab, *Run → Run All Cells* is pressed, and the saved result must show every code
cell run and no error output — a blank exercise may only leave "not done yet" notes (see
eoslab/lessons/unwritten.py and the error policy in jupyterlab_page.py). A screenshot of the end
of the notebook is kept in ``artifacts/browser/<test>/``.

Notebooks that do not follow the rule yet are listed once, in tests/learner_path_status.py
(``run_all``), and expected to fail here; strict, so one that starts passing fails until its name
is removed from that list.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api", reason="Playwright is missing: ./dev test installs it")

from jupyterlab_page import PANEL, NotebookPage, judge_outputs  # noqa: E402
from learner_path_status import per_assignment  # noqa: E402
from playwright.sync_api import Page  # noqa: E402

from eoslab.grading.course import assignments  # noqa: E402
from eoslab.grading.labserver import LabServer  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.broker, pytest.mark.slow, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[2]
RUN_ALL_TIMEOUT_S = 420  # the slowest notebook runs ~1 min on an idle machine; the machine may be loaded


def blank_copy(course_copy: Path, assignment: str) -> str:
    """A fresh copy of the committed blank notebook, next to the assignment's other files."""
    relative = f"{assignment}/run-all-{assignment}.ipynb"
    shutil.copyfile(REPO / "course" / assignment / f"{assignment}.ipynb", course_copy / relative)
    return relative


@pytest.mark.parametrize("assignment", per_assignment("run_all", assignments(REPO)))
def test_run_all_reaches_the_last_cell_of_the_blank_notebook(
        lab: LabServer, course_copy: Path, page: Page, shoot: Callable[[Page, str], Path], assignment: str) -> None:
    notebook = NotebookPage(page, lab, blank_copy(course_copy, assignment))
    notebook.open()
    notebook.run_all(timeout_s=RUN_ALL_TIMEOUT_S)
    page.locator(f"{PANEL} .jp-Notebook .jp-Cell").last.scroll_into_view_if_needed()
    shoot(page, "end-of-notebook")
    verdict = judge_outputs(notebook.save())
    assert verdict.failures == [], (f"Run All on the blank {assignment} did not get through: {verdict.failures}; "
                                    f"notes: {verdict.notes}")
    assert verdict.notes, "a blank notebook should say 'not done yet' somewhere (no exercise left blank?)"
