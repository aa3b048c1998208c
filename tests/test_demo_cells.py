"""Cells tagged ``demo`` are skipped when grading, and no graded cell needs one (eoslab.grading.demos).

For every solution notebook: with its demo cells removed, each remaining cell still finds every
name it uses bound by a remaining cell, the same binding as in the whole notebook (read with
``symtable``, function bodies included). That the solution still earns full marks with its demos
skipped, through nbgrader, is tests/test_grading_integrity.py (``report.demos_skipped``). No kernel;
one test uses the broker (the topics grading deletes in place of the skipped clean-up cells): ~2 s.
"""

from __future__ import annotations

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from eoslab.grading.course import assignments, source_notebook
from eoslab.grading.demos import DEMO_STUB, cell_names, demo_problems, demo_sources, is_demo, skip_demos

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ASSIGNMENTS = assignments(REPO)


def _cell(source: str, cell_id: str, *, demo: bool = False, nbgrader: dict | None = None) -> nbformat.NotebookNode:
    metadata: dict = {"tags": ["demo"]} if demo else {}
    if nbgrader:
        metadata["nbgrader"] = {"grade_id": cell_id, "schema_version": 3, "grade": False, "solution": False,
                                "locked": True, **nbgrader}
    cell = new_code_cell(source, metadata=metadata)
    cell.id = cell_id
    return cell


def _notebook(*cells: nbformat.NotebookNode) -> nbformat.NotebookNode:
    return new_notebook(cells=[new_markdown_cell("# a notebook"), *cells])


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_no_remaining_cell_needs_a_demo_cell(assignment: str) -> None:
    solution = nbformat.read(source_notebook(assignment, REPO), as_version=4)
    assert demo_problems(solution) == []


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_the_student_version_carries_the_same_demo_cells(assignment: str) -> None:
    solution = nbformat.read(source_notebook(assignment, REPO), as_version=4)
    student = nbformat.read(REPO / "course" / assignment / f"{assignment}.ipynb", as_version=4)
    assert demo_sources(student) == demo_sources(solution), "regenerate: eoslab instructor generate --force"


def test_only_unchanged_demo_cells_of_the_source_are_skipped() -> None:
    source = _notebook(_cell("panel = slow_panel()", "panel", demo=True),
                       _cell("show(log)", "locked-demo", demo=True, nbgrader={}),
                       _cell("edited_demo()", "edited", demo=True),
                       _cell("assert first()", "first_works", demo=True, nbgrader={"grade": True, "points": 2}),
                       _cell("x = 1", "plain"))
    learner = nbformat.from_dict(nbformat.reads(nbformat.writes(source), as_version=4))
    learner.cells[3].source = "helper = 2  # the learner wrote into a demo cell: it runs"
    learner.cells[5].metadata["tags"] = ["demo"]  # a tag the learner adds changes nothing
    demos = demo_sources(source)
    assert list(demos) == ["panel", "locked-demo", "edited"], "a graded cell is never a demo, whatever its tags"
    assert skip_demos(learner, demos) == ["panel", "locked-demo"]
    assert [cell.source for cell in learner.cells[1:]] == [
        DEMO_STUB, DEMO_STUB, "helper = 2  # the learner wrote into a demo cell: it runs", "assert first()", "x = 1"]
    assert not is_demo(source.cells[4]) and is_demo(source.cells[2])


def test_a_cell_reading_what_only_a_demo_binds_is_named() -> None:
    notebook = _notebook(_cell("import time", "imports"),
                         _cell("producer = make()\nfirst_topic = 'a'", "first-produce", demo=True),
                         _cell("producer.flush(10)\ndelete([first_topic])", "cleanup"))
    problems = demo_problems(notebook)
    assert len(problems) == 2 and all("cell 3 (cleanup) reads" in line and "demo cell 2 (first-produce)" in line
                                      for line in problems), problems
    notebook.cells[3].metadata["tags"] = ["demo"]  # the clean-up of the demo's own objects is a demo too
    assert demo_problems(notebook) == []


def test_a_demo_that_rebinds_a_name_a_later_cell_reads_is_named() -> None:
    notebook = _notebook(_cell("consumer = reader('a')", "setup"),
                         _cell("consumer = reader('b')  # the demo's own reader", "demo", demo=True),
                         _cell("assert consumer.poll(1)", "graded", nbgrader={"grade": True, "points": 1}))
    assert ["cell 3 (graded) reads `consumer`, last bound before it by demo cell 2 (demo)" in line
            for line in demo_problems(notebook)] == [True]


def test_a_function_reading_a_global_a_demo_binds_is_named() -> None:
    notebook = _notebook(_cell("def check():\n    return [x for x in RECORDS]", "helper"),
                         _cell("RECORDS = range(3)", "demo", demo=True),
                         _cell("assert check()", "graded", nbgrader={"grade": True, "points": 1}))
    assert ["a function in cell 1 (helper) reads the global `RECORDS`, which demo cell 2 (demo)" in line
            for line in demo_problems(notebook)] == [True]


def test_a_graded_cell_tagged_demo_is_named_and_ipython_syntax_is_read() -> None:
    notebook = _notebook(_cell("assert True", "graded", demo=True, nbgrader={"grade": True, "points": 1}),
                         _cell("!eoslab broker status\ntotal = 1 + 1", "shell"))
    assert demo_problems(notebook) == ["cell 1 (graded) is a graded or answer cell tagged 'demo': graded cells "
                                       "always run; remove the tag"]
    assert "total" in cell_names(notebook.cells[2].source).binds


@pytest.mark.broker
def test_grading_deletes_the_topics_its_run_created_and_no_other(kafka_bootstrap: str,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """What the cell grading appends in place of the skipped clean-up cells does (about a second)."""
    from confluent_kafka.admin import NewTopic

    from eoslab.kafka import clients, create_topics, delete_created_topics, delete_topics, make_admin, unique_name
    from eoslab.lessons import create_rejecting_topic

    monkeypatch.setattr(clients, "_CREATED", {})  # this test's own topics only: other tests' stay theirs
    admin = make_admin()
    kept = unique_name("demo-cells-kept")  # not made by create_topics: someone else's (a learner's) topic
    admin.create_topics([NewTopic(kept, 1, 1)])[kept].result(timeout=15)
    left_behind, deleted_by_hand = create_topics([unique_name("demo-cells-left"), unique_name("demo-cells-by-hand")])
    rejecting = create_rejecting_topic("demo-cells-rejecting")
    assert create_topics([kept]) == [kept]  # it exists already: still not this process's to delete
    delete_topics([deleted_by_hand])
    assert sorted(delete_created_topics()) == sorted([left_behind, rejecting])
    assert delete_created_topics() == []
    topics = admin.list_topics(timeout=10).topics
    assert kept in topics and left_behind not in topics and rejecting not in topics
    delete_topics([kept])
