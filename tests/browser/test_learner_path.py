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
from jupyterlab_page import MERMAID_FIGURE, NotebookPage, judge_outputs, mermaid_blocks
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


def test_orientation_runs_clean_and_validates(lab: LabServer, course_copy: Path,
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

    # nbgrader's Validate, as a learner presses it: the button says "Validating..." until the dialog shows
    # the result of running the saved notebook's graded cells.
    validate = page.locator(".jp-NotebookPanel-toolbar").get_by_role("button", name="Validate")  # type: ignore[attr-defined]
    assert validate.is_visible(), "nbgrader's Validate button is missing from the notebook toolbar"
    validate.click()
    dialog = page.locator(".jp-Dialog")  # type: ignore[attr-defined]
    dialog.wait_for(timeout=150_000)
    shoot(page, "validated")
    dialog_text = dialog.inner_text()
    page.keyboard.press("Escape")  # type: ignore[attr-defined]
    assert "Success! Your notebook passes all the tests." in dialog_text, f"Validate reported: {dialog_text[:400]}"


INSTRUCTOR_ONLY = ("Formgrader", "Create assignment", "Course List")


def test_nbgrader_gives_learners_validate_and_a_working_assignment_list(lab: LabServer, page: object,
                                                                        shoot: Shoot) -> None:
    """Learners get Validate and the assignment list (which must not show an error); not the instructor's tools."""
    if not (REPO / "course" / "00-orientation" / "00-orientation.ipynb").exists():
        pytest.skip("course/00-orientation/00-orientation.ipynb does not exist yet")
    notebook = NotebookPage(page, lab, "00-orientation/00-orientation.ipynb")
    notebook.open(wait_for_kernel=False)
    toolbar = page.locator(".jp-NotebookPanel-toolbar")  # type: ignore[attr-defined]
    assert toolbar.get_by_role("button", name="Validate").is_visible(), "no Validate button in the notebook toolbar"

    page.get_by_role("menuitem", name="Nbgrader", exact=True).click()  # type: ignore[attr-defined]
    menu_items = page.locator(".lm-Menu .lm-Menu-itemLabel").all_inner_texts()  # type: ignore[attr-defined]
    shoot(page, "nbgrader-menu")
    assert "Assignment List" in menu_items, f"the Nbgrader menu lacks the assignment list: {menu_items}"
    shown_to_learners = [item for item in menu_items if item.startswith(INSTRUCTOR_ONLY)]
    assert shown_to_learners == [], (f"instructor tools shown to learners: {shown_to_learners}; "
                                     "set up the venv with scripts/setup-nbgrader-extensions.sh learner "
                                     "(./dev lab and ./dev test do)")

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

# The failure panel in 01 (eoslab.widgets): a button that drops a produce acknowledgement with
# idempotence off, and its protected variant; the panel's status text counts duplicates.
DROP_ACK_BUTTON = re.compile(r"ack", re.IGNORECASE)
PROTECTED = re.compile(r"idempoten|protect", re.IGNORECASE)
DUPLICATE_COUNT = re.compile(r"(\d+)\s+duplicat|duplicat\w*\W{0,3}(\d+)", re.IGNORECASE)


def duplicates_shown(page: object) -> list[int]:
    """Every duplicate count that a widget in the page shows (e.g. "1 duplicated" or "duplicates: 1")."""
    texts = page.locator(".jupyter-widgets").all_inner_texts()  # type: ignore[attr-defined]
    return [int(match.group(1) or match.group(2)) for text in texts for match in DUPLICATE_COUNT.finditer(text)]


def test_delivery_semantics_panel_shows_a_duplicate_only_without_idempotence(
        lab: LabServer, course_copy: Path, page: object, shoot: Shoot) -> None:
    notebook = NotebookPage(page, lab, solved_learner_copy(course_copy, "01-delivery-semantics"))
    notebook.open()
    assert notebook.mermaid_problems(mermaid_blocks(nbformat.read(notebook.file, as_version=4))) == []
    notebook.run_all()
    shoot(page, "ran-all")
    verdict = judge_outputs(notebook.save())
    assert verdict.failures == [], f"errors in the page: {verdict.failures}; tolerated: {verdict.tolerated}"

    if "eoslab.widgets" not in notebook.file.read_text():
        pytest.skip("01-delivery-semantics has no failure panel from eoslab.widgets yet; the notebook ran clean")
    buttons = page.locator(".jupyter-widgets button")  # type: ignore[attr-defined]
    labels = buttons.all_inner_texts()
    unprotected = [label for label in labels if DROP_ACK_BUTTON.search(label) and not PROTECTED.search(label)]
    protected = [label for label in labels if DROP_ACK_BUTTON.search(label) and PROTECTED.search(label)]
    assert unprotected and protected, f"no drop-acknowledgement buttons (plain and protected) among {labels}"

    before = duplicates_shown(page)
    buttons.filter(has_text=unprotected[0]).first.click()
    page.wait_for_function(  # type: ignore[attr-defined]
        """([pattern]) => [...document.querySelectorAll('.jupyter-widgets')].some(widget =>
              [...widget.innerText.matchAll(new RegExp(pattern, 'gi'))].some(m => Number(m[1] ?? m[2]) > 0))""",
        arg=[DUPLICATE_COUNT.pattern], timeout=60_000, polling=500)
    shoot(page, "duplicate-without-idempotence")
    assert any(count > 0 for count in duplicates_shown(page)), f"no duplicate reported (before: {before})"

    buttons.filter(has_text=protected[0]).first.click()
    page.wait_for_function(  # type: ignore[attr-defined]
        """([pattern]) => [...document.querySelectorAll('.jupyter-widgets')].some(widget =>
              [...widget.innerText.matchAll(new RegExp(pattern, 'gi'))].some(m => Number(m[1] ?? m[2]) === 0))""",
        arg=[DUPLICATE_COUNT.pattern], timeout=60_000, polling=500)
    shoot(page, "no-duplicate-with-idempotence")
    assert 0 in duplicates_shown(page), "the protected run did not report zero duplicates"
    assert page.locator(".jupyter-widgets .jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
                        ).count() == 0, "a widget shows a traceback instead of an error message"  # type: ignore[attr-defined]


RUN_IN_FULL = ("00-orientation", "01-delivery-semantics")  # their tests above check their diagrams


def notebooks_with_diagrams() -> list[str]:
    """Every other course notebook with a Mermaid diagram, as ``NN-slug/NN-slug.ipynb``."""
    return sorted(str(path.relative_to(REPO / "course")) for path in (REPO / "course").glob("*/*.ipynb")
                  if path.parent.name not in RUN_IN_FULL and mermaid_blocks(nbformat.read(path, as_version=4)))


@pytest.mark.parametrize("relative_path", notebooks_with_diagrams() or
                         [pytest.param("none", marks=pytest.mark.skip(reason="no course notebook has a diagram yet"))])
def test_every_mermaid_diagram_renders_as_svg(lab: LabServer, page: object, shoot: Shoot, relative_path: str) -> None:
    """Opening a notebook draws each of its Mermaid blocks as an SVG image, none as a parse error."""
    notebook = NotebookPage(page, lab, relative_path)
    notebook.open(wait_for_kernel=False)  # Markdown renders without a kernel
    problems = notebook.mermaid_problems(mermaid_blocks(nbformat.read(notebook.file, as_version=4)))
    page.locator(f"{MERMAID_FIGURE}").first.scroll_into_view_if_needed()  # type: ignore[attr-defined]
    shoot(page, "diagram")
    assert problems == []
