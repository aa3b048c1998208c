"""The learner's path in a real browser: JupyterLab 4.6 in headless Chromium, a real broker behind it.

What a learner meets only in the page — widgets that render and answer clicks, Mermaid diagrams
drawn as SVG, nbgrader's Validate button and assignment list — is checked here; what a kernel can
check alone is tested elsewhere. Each step leaves a screenshot in ``artifacts/browser/<test>/``.

Notebooks are run as a learner who has done the exercises would run them: the student version from
``course/`` with each answer cell filled from the instructor's source in ``solutions/`` (a blank
student version stops at its first ``raise NotImplementedError()`` by design). The error policy
(a traceback fails, stderr fails only in graded cells) is in ``jupyterlab_page.py``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest
from jupyterlab_page import NotebookPage, judge_outputs, mermaid_blocks
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from eoslab.labserver import LabServer

pytestmark = [pytest.mark.browser, pytest.mark.broker]

REPO = Path(__file__).resolve().parents[2]
Shoot = Callable[[object, str], Path]


def solved_learner_copy(course_copy: Path, assignment: str) -> str:
    """Fill the copy's student notebook with the solutions' answers; its path relative to the copy."""
    relative = f"{assignment}/{assignment}.ipynb"
    student_path = course_copy / relative
    if not student_path.exists():
        pytest.skip(f"course/{relative} does not exist yet (generate it from solutions/{assignment}/)")
    from eoslab.grading.variants import answer_cells, with_answers

    student = nbformat.read(student_path, as_version=4)
    source_path = REPO / "solutions" / assignment / f"{assignment}.ipynb"
    if source_path.exists():
        solutions = answer_cells(nbformat.read(source_path, as_version=4))
        answers = {grade_id: solutions[grade_id].source for grade_id in answer_cells(student) if grade_id in solutions}
        student = with_answers(student, answers)
    nbformat.write(student, student_path)
    return relative


def harness_notebook(course_copy: Path) -> str:
    """A tiny notebook that exercises the harness: a diagram, a widget, stderr, and a deliberate error."""
    notebook = new_notebook(cells=[
        new_markdown_cell("# Harness\n\n```mermaid\nflowchart LR\n  producer --> broker --> consumer\n```"),
        new_code_cell("import ipywidgets as widgets\n"
                      "clicks_label = widgets.Label('not clicked')\n"
                      "click_button = widgets.Button(description='Click me')\n"
                      "def on_click_me_clicked(_button):\n"
                      "    clicks_label.value = 'clicked'\n"
                      "click_button.on_click(on_click_me_clicked)\n"
                      "widgets.VBox([click_button, clicks_label])"),
        new_code_cell("import sys\nprint('a warning from a library', file=sys.stderr)"),
        new_code_cell("1 / 0  # the harness must report this traceback"),
        new_code_cell("print('never runs: Run All stops at the error above')"),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    (course_copy / "harness").mkdir(exist_ok=True)
    nbformat.write(notebook, course_copy / "harness" / "harness.ipynb")
    return "harness/harness.ipynb"


def test_harness_sees_widgets_diagrams_and_errors(lab: LabServer, course_copy: Path, page: object,
                                                  shoot: Shoot) -> None:
    """The checks below can fail: a traceback and a cell that never ran are reported, a click works."""
    notebook = NotebookPage(page, lab, harness_notebook(course_copy))
    notebook.open()
    assert notebook.mermaid_problems(expected=1) == []
    notebook.run_all(timeout_s=60)
    shoot(page, "ran-all")
    verdict = judge_outputs(notebook.save())
    assert verdict.failures == ["cell 3 raised ZeroDivisionError: division by zero", "cell 4 did not run"]
    assert verdict.tolerated == ["cell 2 wrote to stderr: a warning from a library"]

    page.get_by_role("button", name="Click me").click()  # type: ignore[attr-defined]
    page.locator(".widget-label", has_text=re.compile("^clicked$")).wait_for(timeout=15_000)  # type: ignore[attr-defined]
    shoot(page, "widget-clicked")


def test_orientation_runs_clean_with_diagrams_and_nbgrader_tools(lab: LabServer, course_copy: Path,
                                                                 page: object, shoot: Shoot) -> None:
    notebook = NotebookPage(page, lab, solved_learner_copy(course_copy, "00-orientation"))
    notebook.open()
    shoot(page, "opened")
    expected_diagrams = mermaid_blocks(nbformat.read(notebook.file, as_version=4))
    assert notebook.mermaid_problems(expected_diagrams) == []

    notebook.run_all()
    shoot(page, "ran-all")
    verdict = judge_outputs(notebook.save())
    assert verdict.failures == [], f"errors in the page: {verdict.failures}; tolerated: {verdict.tolerated}"
    assert page.locator(".jupyter-widgets.widget-error, .jupyter-widgets-error-widget").count() == 0, \
        "a widget failed to render"  # type: ignore[attr-defined]

    # nbgrader for learners: the notebook's Validate button, and the assignment list in its menu.
    validate = page.locator(".jp-NotebookPanel-toolbar").get_by_role("button", name="Validate")  # type: ignore[attr-defined]
    assert validate.is_visible(), "nbgrader's Validate button is missing from the notebook toolbar"
    validate.click()
    dialog = page.locator(".jp-Dialog")  # type: ignore[attr-defined]
    dialog.wait_for(timeout=150_000)
    dialog.get_by_text(re.compile(r"passes|success", re.IGNORECASE)).first.wait_for(timeout=150_000)
    shoot(page, "validated")
    dialog_text = dialog.inner_text()
    page.keyboard.press("Escape")  # type: ignore[attr-defined]
    assert "fail" not in dialog_text.lower(), f"Validate reported: {dialog_text[:400]}"

    page.get_by_role("menuitem", name="Nbgrader", exact=True).click()  # type: ignore[attr-defined]
    page.get_by_role("menuitem", name="Assignment List").click()  # type: ignore[attr-defined]
    assignment_list = page.locator("#nbgrader-assignment-list")  # type: ignore[attr-defined]
    assignment_list.get_by_text("Released assignments").wait_for(timeout=30_000)
    page.wait_for_function(  # type: ignore[attr-defined]
        "() => !/Loading/.test(document.querySelector('#nbgrader-assignment-list')?.innerText ?? 'Loading')",
        timeout=30_000, polling=250)
    shoot(page, "assignment-list")
    listed = assignment_list.inner_text()
    for problem in ("does not exist", "Error fetching courses"):
        assert problem not in listed, f"the learner's assignment list shows an error: {listed[:300]!r}"
