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
import time
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest

pytest.importorskip("playwright.sync_api", reason="Playwright is missing: ./dev test installs it")

from jupyterlab_page import MERMAID_FIGURE, NotebookPage, judge_outputs, mermaid_blocks  # noqa: E402
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook  # noqa: E402
from playwright.sync_api import Locator, Page  # noqa: E402

from eoslab.grading.labserver import LabServer  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.broker]

REPO = Path(__file__).resolve().parents[2]
Shoot = Callable[[Page, str], Path]


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


def test_harness_sees_widgets_diagrams_and_errors(lab: LabServer, course_copy: Path, page: Page,
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

    page.get_by_role("button", name="Click me").click()
    page.locator(".widget-label", has_text=re.compile("^clicked$")).wait_for(timeout=15_000)
    shoot(page, "widget-clicked")


def test_orientation_runs_clean_and_validates(lab: LabServer, course_copy: Path, page: Page,
                                             shoot: Shoot) -> None:
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
        "a widget failed to render"

    # nbgrader's Validate, as a learner presses it: the button says "Validating..." until the dialog shows
    # the result of running the saved notebook's graded cells.
    validate = page.locator(".jp-NotebookPanel-toolbar").get_by_role("button", name="Validate")
    validate.wait_for(timeout=30_000)  # fails with "Validate" in the message if nbgrader's plugin is missing
    validate.click()
    dialog = page.locator(".jp-Dialog")
    dialog.wait_for(timeout=150_000)
    shoot(page, "validated")
    dialog_text = dialog.inner_text()
    page.keyboard.press("Escape")
    assert "Success! Your notebook passes all the tests." in dialog_text, f"Validate reported: {dialog_text[:400]}"


INSTRUCTOR_ONLY = ("Formgrader", "Create assignment", "Course List")


def test_nbgrader_gives_learners_validate_and_a_working_assignment_list(lab: LabServer, page: Page,
                                                                        shoot: Shoot) -> None:
    """Learners get Validate and the assignment list (which must not show an error); not the instructor's tools."""
    if not (REPO / "course" / "00-orientation" / "00-orientation.ipynb").exists():
        pytest.skip("course/00-orientation/00-orientation.ipynb does not exist yet")
    notebook = NotebookPage(page, lab, "00-orientation/00-orientation.ipynb")
    notebook.open(wait_for_kernel=False)
    page.locator(".jp-NotebookPanel-toolbar").get_by_role("button", name="Validate").wait_for(timeout=30_000)

    page.get_by_role("menuitem", name="Nbgrader", exact=True).click()
    menu_items = page.locator(".lm-Menu .lm-Menu-itemLabel").all_inner_texts()
    shoot(page, "nbgrader-menu")
    assert "Assignment List" in menu_items, f"the Nbgrader menu lacks the assignment list: {menu_items}"
    shown_to_learners = [item for item in menu_items if item.startswith(INSTRUCTOR_ONLY)]
    assert shown_to_learners == [], (f"instructor tools shown to learners: {shown_to_learners}; "
                                     "set up the venv with scripts/setup-nbgrader-extensions.sh learner "
                                     "(./dev lab and ./dev test do)")

    page.get_by_role("menuitem", name="Assignment List").click()
    assignment_list = page.locator("#nbgrader-assignment-list")
    assignment_list.get_by_text("Released assignments").wait_for(timeout=30_000)
    page.wait_for_function(
        "() => !/Loading/.test(document.querySelector('#nbgrader-assignment-list')?.innerText ?? 'Loading')",
        timeout=30_000, polling=250)
    shoot(page, "assignment-list")
    listed = assignment_list.inner_text()
    for problem in ("does not exist", "Error fetching courses"):
        assert problem not in listed, f"the learner's assignment list shows an error: {listed[:300]!r}"

# The failure panel (eoslab.widgets.FailurePanel.for_producer) as a learner uses it: pick a producer
# configuration, arm "Drop next produce ack", press "Run producer", read the delivery line.
DROP_ACK = "Drop next produce ack"
UNPROTECTED = re.compile(r"\boff\b|false|without|unprotected|no idempotence", re.IGNORECASE)
RUN_FINISHED = re.compile(r"producer run (\d+) \(([^)]*)\): producer pid \d+ exited")
DUPLICATED = re.compile(r"duplicated: (\d+)")


def panel_with_drop_ack(page: Page) -> Locator:
    """The innermost widget box that holds the drop-acknowledgement button (the panel itself)."""
    button = page.get_by_role("button", name=DROP_ACK, exact=True)
    return page.locator(".widget-vbox").filter(has=button).last


def duplicates_after_a_dropped_ack(page: Page, panel: Locator, variant: str, run: int,
                                   timeout_s: float = 90) -> int:
    """Choose ``variant``, drop the next produce ack, run the producer; the duplicates the panel reports."""
    panel.locator(".widget-toggle-button", has_text=variant).click()
    panel.get_by_role("button", name=DROP_ACK, exact=True).click()
    panel.get_by_role("button", name="Run producer").click()
    status = panel.locator(".widget-html pre")
    # Done when this run's producer has exited and the delivery line is no longer "run in progress".
    deadline = time.monotonic() + timeout_s
    text = ""
    while time.monotonic() < deadline:
        text = status.inner_text()
        finished = [int(match.group(1)) for match in RUN_FINISHED.finditer(text)]
        if run in finished and "in progress" not in text and DUPLICATED.search(text):
            return int(DUPLICATED.search(text).group(1))
        page.wait_for_timeout(250)  # polling interval; the loop re-checks the status
    raise AssertionError(f"run {run} ({variant}) did not finish within {timeout_s:.0f} s; the panel shows:\n{text}")


def check_failure_panel(page: Page, shoot: Shoot) -> None:
    """Without idempotence a dropped ack duplicates a record; with it, none — as the page shows it."""
    panel = panel_with_drop_ack(page)
    panel.scroll_into_view_if_needed()
    variants = panel.locator(".widget-toggle-button").all_inner_texts()
    unprotected = [label for label in variants if UNPROTECTED.search(label)]
    protected = [label for label in variants if not UNPROTECTED.search(label)]
    assert unprotected and protected, f"the panel's configurations {variants} lack a plain and a protected one"

    duplicated = duplicates_after_a_dropped_ack(page, panel, unprotected[0], run=1)
    shoot(page, "panel-without-idempotence")
    assert duplicated >= 1, f"with {unprotected[0]!r} a dropped ack should duplicate a record; the panel says {duplicated}"
    duplicated = duplicates_after_a_dropped_ack(page, panel, protected[0], run=2)
    shoot(page, "panel-with-idempotence")
    assert duplicated == 0, f"with {protected[0]!r} a dropped ack must not duplicate; the panel says {duplicated}"
    errors = panel.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    assert errors.count() == 0, f"the panel shows a traceback: {errors.all_inner_texts()}"


def panel_notebook(course_copy: Path) -> str:
    """A notebook with only a producer failure panel, as the widgets' docstring shows it."""
    notebook = new_notebook(cells=[new_code_cell(
        "from eoslab.kafka.clients import create_topics, unique_name\n"
        "from eoslab.widgets import FailurePanel\n\n"
        "panel_topic = create_topics([unique_name('browser-panel')])[0]\n"
        "panel = FailurePanel.for_producer(panel_topic, count=20, variants={\n"
        "    'idempotence off': {'enable.idempotence': False, 'acks': 'all', 'retries': 5},\n"
        "    'idempotence on': {'enable.idempotence': True, 'acks': 'all'},\n"
        "}, faults=['drop_produce_ack', 'kill_worker'])\n"
        "panel")], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    (course_copy / "panel").mkdir(exist_ok=True)
    nbformat.write(notebook, course_copy / "panel" / "panel.ipynb")
    return "panel/panel.ipynb"


def test_failure_panel_reports_a_duplicate_only_without_idempotence(lab: LabServer, course_copy: Path,
                                                                    page: Page, shoot: Shoot) -> None:
    """The panel's buttons work in the page, whatever the lessons do with them."""
    pytest.importorskip("eoslab.widgets", reason="eoslab.widgets is not there yet")
    notebook = NotebookPage(page, lab, panel_notebook(course_copy))
    notebook.open()
    notebook.run_all(timeout_s=60)
    shoot(page, "panel")
    check_failure_panel(page, shoot)


def test_delivery_semantics_runs_clean_and_its_panel_shows_the_duplicate(
        lab: LabServer, course_copy: Path, page: Page, shoot: Shoot) -> None:
    """A learner runs everything but the clean-up cell, plays with the panel, then cleans up."""
    notebook = NotebookPage(page, lab, solved_learner_copy(course_copy, "01-delivery-semantics"))
    cells = nbformat.read(notebook.file, as_version=4).cells
    notebook.open()
    assert notebook.mermaid_problems(mermaid_blocks(nbformat.NotebookNode(cells=cells))) == []
    # The last code cell closes the panels (the course's "leave nothing behind" cell): run up to it.
    clean_up = max(index for index, cell in enumerate(cells) if cell.cell_type == "code")
    notebook.run_all_above(clean_up)
    shoot(page, "ran-all-but-clean-up")
    has_panel = page.get_by_role("button", name=DROP_ACK, exact=True).count() > 0
    if has_panel:
        check_failure_panel(page, shoot)
    notebook.run_cell(clean_up)
    verdict = judge_outputs(notebook.save())
    assert verdict.failures == [], f"errors in the page: {verdict.failures}; tolerated: {verdict.tolerated}"
    if not has_panel:
        pytest.skip(f"01-delivery-semantics has no failure panel with a {DROP_ACK!r} button yet; it ran clean")


RUN_IN_FULL = ("00-orientation", "01-delivery-semantics")  # their tests above check their diagrams


def notebooks_with_diagrams() -> list[str]:
    """Every other course notebook with a Mermaid diagram, as ``NN-slug/NN-slug.ipynb``."""
    return sorted(str(path.relative_to(REPO / "course")) for path in (REPO / "course").glob("*/*.ipynb")
                  if path.parent.name not in RUN_IN_FULL and mermaid_blocks(nbformat.read(path, as_version=4)))


@pytest.mark.parametrize("relative_path", notebooks_with_diagrams() or
                         [pytest.param("none", marks=pytest.mark.skip(reason="no course notebook has a diagram yet"))])
def test_every_mermaid_diagram_renders_as_svg(lab: LabServer, page: Page, shoot: Shoot, relative_path: str) -> None:
    """Opening a notebook draws each of its Mermaid blocks as an SVG image, none as a parse error."""
    notebook = NotebookPage(page, lab, relative_path)
    notebook.open(wait_for_kernel=False)  # Markdown renders without a kernel
    problems = notebook.mermaid_problems(mermaid_blocks(nbformat.read(notebook.file, as_version=4)))
    page.locator(f"{MERMAID_FIGURE}").first.scroll_into_view_if_needed()
    shoot(page, "diagram")
    assert problems == []


def open_and_run_cells(lab: LabServer, page: Page, course_copy: Path, assignment: str,
                       cell_ids: tuple[str, ...]) -> NotebookPage:
    """Open the solved learner copy of ``assignment`` and run the cells with these ids, in order."""
    notebook = NotebookPage(page, lab, solved_learner_copy(course_copy, assignment))
    ids = [cell.get("id") for cell in nbformat.read(notebook.file, as_version=4).cells]
    notebook.open()
    for cell_id in cell_ids:
        notebook.run_cell(ids.index(cell_id), timeout_s=120)
    return notebook


FAILOVER_BUTTON = "Kill the leader, followers behind"


def test_the_durability_panel_breaks_the_cluster_and_draws_what_each_replica_kept(
        lab: LabServer, course_copy: Path, page: Page, shoot: Shoot) -> None:
    """02: a learner runs the set-up and the panel cell, presses the failover button and sees the loss drawn."""
    open_and_run_cells(lab, page, course_copy, "02-durability", ("imports", "setup", "panel"))
    button = page.get_by_role("button", name=FAILOVER_BUTTON, exact=True)
    button.scroll_into_view_if_needed()
    shoot(page, "panel")
    button.click()
    # While the demo runs the buttons are off and the status line shows the paused followers.
    page.wait_for_function("(label) => [...document.querySelectorAll('button')].some("
                           "b => b.textContent.trim() === label && b.disabled)", arg=FAILOVER_BUTTON, timeout=10_000)
    drawing = page.locator(".eos-rep").first
    drawing.wait_for(timeout=180_000)
    result = page.locator(".widget-html", has=page.locator(".eos-rep")).first
    assert "acknowledged records no longer exist" in result.inner_text()  # acks=1
    assert "No acknowledged record was lost" in result.inner_text()  # acks=all
    drawing.scroll_into_view_if_needed()
    shoot(page, "failover-drawn")
    assert page.locator(".eos-rep").count() >= 4  # before and after, for acks=1 and for acks=all
    page.wait_for_function("(label) => [...document.querySelectorAll('button')].some("
                           "b => b.textContent.trim() === label && !b.disabled)", arg=FAILOVER_BUTTON, timeout=30_000)


ZOMBIE_REFUSED = re.compile(r"copier 1: pid \d+ running[^\n]*[1-9]\d* aborted[^\n]*(ILLEGAL_GENERATION|UNKNOWN_MEMBER_ID|"
                            r"generation|member)", re.IGNORECASE)


def test_the_group_panel_shows_partitions_move_and_a_paused_copier_wake_up_fenced(
        lab: LabServer, course_copy: Path, page: Page, shoot: Shoot) -> None:
    """07: two copiers share six partitions; copier 1 is paused past the session timeout and resumed."""
    open_and_run_cells(lab, page, course_copy, "07-consumer-groups", ("imports", "group-panel"))
    panel = page.locator(".widget-vbox", has_text="A consumer group of copiers").first
    panel.scroll_into_view_if_needed()
    status = panel.locator("pre").first

    def press(label: str) -> None:  # ipywidgets puts the icon inside the button, before its label
        panel.locator("button", has_text=label).first.click()

    press("Start / restart")
    press("copier 2")
    press("Start / restart")
    status.filter(has_text=re.compile(r"→copier 1.*→copier 2|→copier 2.*→copier 1")).wait_for(timeout=90_000)
    shoot(page, "two-copiers-share-the-partitions")
    press("copier 1")
    press("Pause (zombie)")
    status.filter(has_text="a zombie").wait_for(timeout=30_000)
    page.wait_for_timeout(4_000)  # past the session timeout and the rebalance: copier 2 owns everything
    shoot(page, "copier-1-paused-the-group-moved-on")
    press("Resume")
    deadline = time.monotonic() + 90
    while not ZOMBIE_REFUSED.search(status.inner_text()) and time.monotonic() < deadline:
        page.wait_for_timeout(500)  # polling interval; the status redraws every half second
    panel.scroll_into_view_if_needed()
    shoot(page, "zombie-fenced")
    assert ZOMBIE_REFUSED.search(status.inner_text()), status.inner_text()
