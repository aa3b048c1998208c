"""Demo cells: code cells tagged ``demo`` that grading skips, and the check that skipping is safe.

A notebook author tags a code cell ``demo`` (cell tags) when no graded cell needs it: a panel, a
picture, a fault shown both ways, a timing run. Grading then runs a one-line stub in its place
(:class:`SkipDemos`, an nbgrader preprocessor just before execution), which saves its run time:
the demos are most of a notebook's run, the hidden tests the rest. A clean-up cell that closes what
the demos opened is tagged too; in its place grading appends one cell that deletes every topic the
run created (``eoslab.kafka.delete_created_topics``), so grading leaves no topic behind.

Which cells are skipped comes from the *source* notebook (``solutions/NN-slug``), never from the
learner's copy: a cell is skipped only when the learner's copy holds it (same cell id) with the
source's text unchanged. A learner who wrote something into a demo cell gets it run; a tag a
learner adds or removes changes nothing. nbgrader's graded and answer cells are never demos.

:func:`demo_problems` is the check that makes a tag safe by construction (run for every solution
notebook by ``tests/test_demo_cells.py``): with the demo cells removed, every name the remaining
cells use must still be bound by a remaining cell, the same binding as in the whole notebook. It
reads each cell with Python's ``symtable`` (after IPython's own transformation of ``!`` and ``%``
lines), so a name used only inside a function body counts too. Side effects on objects (a demo
appending to a list a later cell reads) are not names; the solution earning full marks with its
demos skipped (tests/test_grading_integrity.py) is the check for those.
"""

from __future__ import annotations

import symtable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import NbGraderPreprocessor

DEMO_TAG = "demo"
DEMO_STUB = "# (a demo cell, tagged 'demo': skipped while grading)"
#: The cell grading appends after skipping demos: a skipped clean-up cell (tagged too, because it
#: closes what the demos opened) cannot delete the topics the cells that did run created.
CLEANUP_ID = "eoslab-grading-cleanup"
CLEANUP_SOURCE = ("# (added by grading: the clean-up cells were skipped with the demos)\n"
                  "from eoslab.kafka import delete_created_topics\n"
                  "print('topics deleted:', delete_created_topics())")


def is_demo(cell: Any) -> bool:
    """A code cell tagged ``demo`` that is no graded or answer cell (a locked nbgrader cell may be one)."""
    nbgrader = cell.get("metadata", {}).get("nbgrader", {})
    return (cell.get("cell_type") == "code" and DEMO_TAG in cell.get("metadata", {}).get("tags", [])
            and not nbgrader.get("grade") and not nbgrader.get("solution"))


def demo_sources(notebook: nbformat.NotebookNode) -> dict[str, str]:
    """The source notebook's demo cells: cell id → source (what a learner's unchanged copy holds)."""
    return {cell["id"]: cell["source"] for cell in notebook.cells if is_demo(cell) and cell.get("id")}


def skip_demos(notebook: nbformat.NotebookNode, demos: dict[str, str]) -> list[str]:
    """Replace, in place, every cell of ``notebook`` that is one of ``demos`` unchanged by the stub;
    return the ids of the cells replaced. Graded and answer cells are never replaced."""
    skipped = []
    for cell in notebook.cells:
        if (cell.get("cell_type") == "code" and cell.get("id") in demos
                and cell.get("source", "").strip() == demos[cell["id"]].strip()
                and not cell.get("metadata", {}).get("nbgrader", {}).get("grade")
                and not cell.get("metadata", {}).get("nbgrader", {}).get("solution")):
            cell["source"] = DEMO_STUB
            cell["outputs"] = []
            skipped.append(cell["id"])
    return skipped


def skipped_in(notebook: Path | nbformat.NotebookNode) -> list[str]:
    """The ids of the cells an autograded notebook holds as skipped demos (the stub in their place)."""
    executed = nbformat.read(notebook, as_version=4) if isinstance(notebook, Path | str) else notebook
    return [cell.get("id", "") for cell in executed.cells
            if cell.get("cell_type") == "code" and cell.get("source") == DEMO_STUB]


class SkipDemos(NbGraderPreprocessor):
    """nbgrader autograde step, just before Execute: the unchanged demo cells become the stub.

    The demos are read from the assignment's source notebook in the course directory nbgrader
    grades from (``CourseDirectory.source_directory``); without one, nothing is skipped.
    """

    def preprocess(self, nb: nbformat.NotebookNode, resources: dict) -> tuple[nbformat.NotebookNode, dict]:
        info = resources.get("nbgrader", {})
        coursedir = CourseDirectory(config=self.config)
        source = Path(coursedir.format_path(coursedir.source_directory, ".", info.get("assignment", ""))) / \
            f"{info.get('notebook', '')}.ipynb"
        if info.get("assignment") and source.is_file():
            skipped = skip_demos(nb, demo_sources(nbformat.read(source, as_version=4)))
            if skipped:
                self.log.info("Skipping %d demo cells: %s", len(skipped), ", ".join(skipped))
                cleanup = nbformat.v4.new_code_cell(CLEANUP_SOURCE)
                cleanup.id = CLEANUP_ID
                nb.cells.append(cleanup)
        return nb, resources


def autograde_preprocessors() -> list[type]:
    """What ``c.Autograde.autograde_preprocessors`` should be: nbgrader's own, :class:`SkipDemos` first."""
    from nbgrader.converters import Autograde

    return [SkipDemos, *Autograde.class_traits()["autograde_preprocessors"].default()]


# ---- the safety check ----------------------------------------------------------------------------

@dataclass(frozen=True)
class CellNames:
    """What one code cell binds and reads at the notebook's top level."""

    binds: frozenset[str]
    reads: frozenset[str]  # read at the top level of the cell, not bound earlier in the cell's scope
    reads_later: frozenset[str]  # globals read inside its functions and classes (at call time)


def cell_names(source: str) -> CellNames:
    """The names a cell binds and reads, from Python's symbol table (IPython syntax transformed first)."""
    from IPython.core.inputtransformer2 import TransformerManager

    table = symtable.symtable(TransformerManager().transform_cell(source), "<cell>", "exec")
    binds, reads, later = set(), set(), set()
    for symbol in table.get_symbols():
        if symbol.is_assigned() or symbol.is_imported() or symbol.is_namespace():
            binds.add(symbol.get_name())
        if symbol.is_referenced():
            reads.add(symbol.get_name())
    pending = list(table.get_children())
    while pending:
        scope = pending.pop()
        pending.extend(scope.get_children())
        for symbol in scope.get_symbols():
            if symbol.is_declared_global() and symbol.is_assigned():
                binds.add(symbol.get_name())
            if symbol.is_global() and symbol.is_referenced():
                later.add(symbol.get_name())
    # A name bound and read in the same cell is taken as the cell's own (the common order).
    return CellNames(frozenset(binds), frozenset(reads - binds), frozenset(later))


def _label(index: int, cell: Any) -> str:
    grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    return f"cell {index} ({cell.get('id') or grade_id or 'no id'})"


def demo_problems(notebook: nbformat.NotebookNode) -> list[str]:
    """Why skipping the notebook's demo cells could change what a remaining cell sees; [] when safe.

    - a remaining cell reads a name whose latest binding before it is in a demo cell (without the
      demo the name is missing, or bound to something else);
    - a function or class of a remaining cell reads a global that some demo cell binds (it runs
      later, and would see the demo's binding in the whole notebook, not when grading);
    - a graded or answer cell tagged ``demo`` (it is never skipped: the tag is a mistake).
    """
    problems = []
    cells = [(index, cell) for index, cell in enumerate(notebook.cells) if cell.get("cell_type") == "code"]
    names = {index: cell_names(cell.source) for index, cell in cells}
    demos = {index for index, cell in cells if is_demo(cell)}
    for index, cell in cells:
        if DEMO_TAG in cell.get("metadata", {}).get("tags", []) and index not in demos:
            problems.append(f"{_label(index, cell)} is a graded or answer cell tagged '{DEMO_TAG}': "
                            "graded cells always run; remove the tag")
    binders: dict[str, list[int]] = {}
    for index, _ in cells:
        for name in names[index].binds:
            binders.setdefault(name, []).append(index)
    for index, cell in cells:
        if index in demos:
            continue
        for name in sorted(names[index].reads):
            before = [binder for binder in binders.get(name, []) if binder < index]
            if before and before[-1] in demos:
                demo = before[-1]
                problems.append(f"{_label(index, cell)} reads `{name}`, last bound before it by demo "
                                f"{_label(demo, notebook.cells[demo])}: untag that demo, or bind `{name}` "
                                "in a cell that is not one")
        for name in sorted(names[index].reads_later):
            bound_by_demo = [binder for binder in binders.get(name, []) if binder in demos]
            if bound_by_demo:
                demo = bound_by_demo[0]
                problems.append(f"a function in {_label(index, cell)} reads the global `{name}`, which demo "
                                f"{_label(demo, notebook.cells[demo])} binds: untag that demo, or rename")
    return problems
