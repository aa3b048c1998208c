"""The course's map: every assignment with its title and one-line promise, the start page, Next links.

The map is read, never kept by hand: the assignments are the ``solutions/NN-slug/`` folders
(:func:`eoslab.grading.course.assignments`), and each one's title and promise come from the first
heading of its student notebook, ``# NN · Title: what you will see or do``. Renumbering or adding
an assignment therefore changes the map by itself:

- :func:`course_map` lists the entries; :func:`map_markdown` draws them as the start page's table;
- ``course/START.ipynb`` is hand-written, except the table between :data:`MAP_BEGIN` and
  :data:`MAP_END`, which :func:`refresh_start_page` rewrites (``eoslab instructor generate`` calls it;
  ``tests/test_course_map.py`` fails while it is stale);
- :func:`next_entry` is the assignment after one, the target of its closing "Next:" link
  (the same test checks every Next link points there).

START.ipynb is not an assignment: it sits in ``course/`` itself, not in an ``NN-slug`` folder, so
nothing that grades or generates assignments sees it. Not covered: assignments split over several
notebooks (one notebook per assignment is the course's rule).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

from .course import COURSE, assignments, course_root

START_PAGE = "START.ipynb"
MAP_BEGIN = "<!-- assignments: generated from each notebook's title by `eoslab instructor generate` -->"
MAP_END = "<!-- end of assignments -->"
TITLE = re.compile(r"^#\s+(?P<number>\d\d)\s*[·—–-]\s*(?P<title>[^:]+?)\s*(?::\s*(?P<promise>.+))?$")
NEXT_LINK = re.compile(r"\*\*Next:\*\*\s*\[[^\]]*\]\((?P<target>[^)]+)\)")


@dataclass(frozen=True)
class Entry:
    name: str  # NN-slug
    number: str  # NN
    title: str  # "Delivery semantics"
    promise: str  # "what goes wrong between a producer, the broker and a consumer"

    @property
    def notebook(self) -> str:
        """The student notebook, relative to ``course/``."""
        return f"{self.name}/{self.name}.ipynb"

    @property
    def label(self) -> str:
        return f"{self.number} · {self.title}"


def _heading(notebook: Path) -> str:
    for cell in nbformat.read(notebook, as_version=4).cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line.strip()
    return ""


def entry_for(name: str, root: Path | None = None) -> Entry:
    """The map entry of assignment ``name``, from its student notebook's first heading."""
    root = root or course_root()
    notebook = root / COURSE / name / f"{name}.ipynb"
    number = name[:2]
    match = TITLE.match(_heading(notebook)) if notebook.exists() else None
    if match is None:  # a heading the pattern does not know: the folder name still tells a lot
        return Entry(name, number, name[3:].replace("-", " ").capitalize(), "")
    return Entry(name, match["number"], match["title"].strip(), (match["promise"] or "").strip())


def course_map(root: Path | None = None) -> list[Entry]:
    """Every assignment, in order."""
    root = root or course_root()
    return [entry_for(name, root) for name in assignments(root)]


def next_entry(name: str, root: Path | None = None) -> Entry | None:
    """The assignment after ``name`` (None after the last one)."""
    entries = course_map(root)
    names = [entry.name for entry in entries]
    position = names.index(name)
    return entries[position + 1] if position + 1 < len(entries) else None


def next_link_target(notebook: nbformat.NotebookNode) -> str | None:
    """Where the notebook's closing "**Next:** [...](target)" link points, if it has one."""
    for cell in reversed(notebook.cells):
        if cell.cell_type == "markdown":
            found = NEXT_LINK.search(cell.source)
            if found:
                return found["target"]
    return None


def map_markdown(entries: list[Entry]) -> str:
    """The start page's table: one row per assignment, linked, with its promise."""
    rows = ["| # | assignment | what you will see and do |", "|---|---|---|"]
    for entry in entries:
        promise = entry.promise[:1].upper() + entry.promise[1:] if entry.promise else ""
        rows.append(f"| {entry.number} | [{entry.title}]({entry.notebook}) | {promise} |")
    return "\n".join(rows)


def _with_map(source: str, table: str) -> str:
    if MAP_BEGIN not in source or MAP_END not in source:
        return source
    head, rest = source.split(MAP_BEGIN, 1)
    _old, tail = rest.split(MAP_END, 1)
    return f"{head}{MAP_BEGIN}\n{table}\n{MAP_END}{tail}"


def start_page_is_current(root: Path | None = None) -> bool:
    root = root or course_root()
    path = root / COURSE / START_PAGE
    table = map_markdown(course_map(root))
    notebook = nbformat.read(path, as_version=4)
    return all(_with_map(cell.source, table) == cell.source for cell in notebook.cells if cell.cell_type == "markdown")


def refresh_start_page(root: Path | None = None) -> bool:
    """Rewrite the map in ``course/START.ipynb``; True if it changed. Everything else is kept."""
    root = root or course_root()
    path = root / COURSE / START_PAGE
    if not path.exists():
        return False
    notebook = nbformat.read(path, as_version=4)
    table = map_markdown(course_map(root))
    changed = False
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            updated = _with_map(cell.source, table)
            changed |= updated != cell.source
            cell.source = updated
    if changed:
        nbformat.write(notebook, path)
    return changed
