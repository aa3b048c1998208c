"""The result of autograding one notebook: a score per graded cell, why points were lost, a table.

Which cells count, and their maximum, comes from the source notebook (``solutions/NN-slug``, the
same cells nbgrader put in the gradebook), never from the cells the learner's executed notebook
happens to hold: a graded cell that was deleted, or whose nbgrader metadata was edited away, scores
0 and is named ("graded cell `x` was missing: 0 / 2"). Scores come from nbgrader's gradebook;
reasons come from the autograded notebook's outputs, the rule nbgrader applies
(utils.determine_grade): an error output or anything on stderr scores a test cell zero; a number as
the last expression is partial credit. A timed-out cell shows nbgrader's CellTimeoutError and is
reported as "timed out". Answer cells that failed are listed as notes, because their failure is
usually why a later test cell lost its points.

Wording: 0 of a cell's points is "wrong", some of them "partial credit". Where the failure text
shows a known pattern (a name not defined, duplicates, records lost after an abort, a fenced
producer, a deadline), the reason adds the likely cause (:data:`LIKELY_CAUSES`); the rules look at
the failure text only, never at a particular exercise.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

# nbgrader records CellTimeoutError; when the kernel's own reply to the interrupt wins the race,
# the cell shows KeyboardInterrupt instead. Nobody presses Ctrl-C in an autograde run: both mean
# the cell hit its time limit.
TIMEOUT_ERRORS = ("CellTimeoutError", "KeyboardInterrupt")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_REASON_CHARS = 160
#: What eoslab.lessons.when_written prints (on stderr, in graded cells) for an unwritten exercise.
NOT_DONE_YET = "not done yet"
HIDDEN_BEGIN = "### BEGIN HIDDEN TESTS"
HIDDEN_END = "### END HIDDEN TESTS"

#: (pattern in the failure text, the likely cause to add). First match wins; {0}, {1}… are groups.
LIKELY_CAUSES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"NameError: name '(\w+)' is not defined"),
     "`{0}` did not exist when the test ran: run the cell that defines it; did an earlier answer cell fail?"),
    (re.compile(r"duplicat", re.I),
     "duplicates in the output: check the offsets you send with the transaction (the next offset to read) "
     "and that nothing is committed outside it"),
    (re.compile(r"abort.*\blost\b|\blost\b.*abort", re.I),
     "records lost after an abort: did you rewind the consumer to its last committed offsets?"),
    (re.compile(r"\blost\b|\bmissing\b", re.I),
     "records lost: was every record delivered (flush) before you returned or committed?"),
    (re.compile(r"_FENCED|fenced", re.I),
     "fenced: a newer producer with the same transactional.id took over; the old one must stop, not retry"),
    (re.compile(r"TimeoutError"),
     "a wait hit its deadline: is something never delivered, read or committed?"),
    (re.compile(r"TypeError: .*(argument|positional|keyword)"),
     "the function was called as the exercise's text says: compare your signature with it"),
    (re.compile(r"^AssertionError$"),
     "a hidden check failed: compare your code with each point of the exercise's contract"),
]


def likely_cause(reason: str) -> str:
    """The likely cause for a failure text, or '' when no rule knows one."""
    for pattern, cause in LIKELY_CAUSES:
        match = pattern.search(reason)
        if match:
            return cause.format(*match.groups())
    return ""


@dataclass(frozen=True)
class GradedCell:
    """A graded cell as the source notebook defines it."""
    grade_id: str
    max_points: float
    title: str  # the first line of its docstring, else its grade_id
    hidden: tuple[str, ...] = ()  # its hidden test lines (for checks that feedback never shows them)


@dataclass(frozen=True)
class CellScore:
    grade_id: str
    points: float | None  # None: needs a person (a manually graded answer)
    max_points: float
    reason: str = ""  # why points were lost (the failure, and its likely cause)
    title: str = ""
    missing: bool = False  # not in the learner's notebook (deleted, or its metadata edited away)
    output: str = ""  # what the cell printed (stdout), for the feedback page

    @property
    def full(self) -> bool:
        return self.points is not None and self.points >= self.max_points

    @property
    def timed_out(self) -> bool:
        return self.reason.startswith("timed out")

    @property
    def verdict(self) -> str:
        """'full marks', 'wrong' (0 points), 'partial credit', 'missing' or 'graded by your instructor'."""
        if self.points is None:
            return "graded by your instructor"
        if self.missing:
            return "missing"
        if self.full:
            return "full marks"
        return "wrong" if self.points <= 0 else "partial credit"

    @property
    def why(self) -> str:
        """The verdict and reason in one phrase, as the table shows it ('' at full marks)."""
        if self.full:
            return ""
        if self.verdict == "graded by your instructor":
            return self.verdict
        return f"{self.verdict}: {self.reason}" if self.reason else self.verdict


@dataclass
class GradeReport:
    assignment: str
    student: str
    cells: list[CellScore]
    notes: list[str] = field(default_factory=list)
    feedback: Path | None = None  # the learner's feedback page (no hidden tests)
    autograded: Path | None = None  # the executed notebook, hidden tests included
    instructor_feedback: Path | None = None  # nbgrader's own page, hidden tests included
    demos_skipped: list[str] = field(default_factory=list)  # ids of the demo cells not run (.demos)

    @property
    def total(self) -> float:
        return sum(cell.points or 0.0 for cell in self.cells)

    @property
    def max_total(self) -> float:
        return sum(cell.max_points for cell in self.cells)

    def by_id(self) -> dict[str, CellScore]:
        return {cell.grade_id: cell for cell in self.cells}

    def table(self) -> str:
        width = max([len(cell.grade_id) for cell in self.cells] + [len("exercise")])
        lines = [f"{'exercise':<{width}}  {'points':>9}  why points were lost", "-" * (width + 36)]
        for cell in self.cells:
            earned = "manual" if cell.points is None else f"{cell.points:g}"
            lines.append(f"{cell.grade_id:<{width}}  {earned:>4} / {cell.max_points:<3g}  {cell.why}".rstrip())
        lines.append("-" * (width + 36))
        lines.append(f"{'total':<{width}}  {self.total:>4g} / {self.max_total:<3g}")
        if self.notes:
            lines.append("")
            lines.extend(f"note: {note}" for note in self.notes)
        return "\n".join(lines)


def _short(text: str) -> str:
    text = " ".join(_ANSI.sub("", text).split())
    return text if len(text) <= _REASON_CHARS else text[: _REASON_CHARS - 1] + "…"


def failure_reason(cell: nbformat.NotebookNode, cell_timeout_s: int) -> str:
    """Why a cell failed, in one line; empty if its outputs show no failure."""
    for output in cell.get("outputs", []):
        if output.output_type == "error":
            if output.ename in TIMEOUT_ERRORS:
                return f"timed out after {cell_timeout_s} s (an endless loop, or a wait without a deadline?)"
            return _short(f"{output.ename}: {output.evalue}" if output.evalue else output.ename)
        if output.output_type == "stream" and output.name == "stderr":
            text = _ANSI.sub("", output.text).strip()
            if text.startswith(NOT_DONE_YET):
                return _short(text)
            return _short(f"wrote to stderr (a graded cell must not): {text}")
    return ""


def printed(cell: nbformat.NotebookNode) -> str:
    """What a cell printed on stdout (its last lines), without colour codes."""
    text = "".join(output.get("text", "") for output in cell.get("outputs", [])
                   if output.output_type == "stream" and output.name == "stdout")
    return _ANSI.sub("", text).strip()


def _with_cause(reason: str) -> str:
    cause = likely_cause(reason)
    return f"{reason} → {cause}" if cause else reason


def docstring_title(source: str) -> str:
    """The first line of a cell's docstring, or '' (also for source Python cannot parse)."""
    try:
        docstring = ast.get_docstring(ast.parse(source))
    except (SyntaxError, ValueError):
        match = re.match(r'\s*(?:"""|\'\'\')\s*(.+)', source)
        docstring = match.group(1).rstrip("\"' ") if match else None
    return docstring.strip().splitlines()[0].strip() if docstring and docstring.strip() else ""


def hidden_lines(source: str) -> tuple[str, ...]:
    """The lines between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS``, stripped."""
    lines, inside = [], False
    for line in source.splitlines():
        if line.strip().startswith(HIDDEN_BEGIN):
            inside = True
        elif line.strip().startswith(HIDDEN_END):
            inside = False
        elif inside and line.strip():
            lines.append(line.strip())
    return tuple(lines)


def graded_cells(source: Path | nbformat.NotebookNode) -> list[GradedCell]:
    """Every graded cell of the source notebook, in order, with its maximum and title."""
    notebook = nbformat.read(source, as_version=4) if isinstance(source, Path | str) else source
    found = []
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and meta.get("grade_id"):
            title = docstring_title(cell.source) if cell.cell_type == "code" else ""
            found.append(GradedCell(meta["grade_id"], float(meta.get("points", 0)), title or meta["grade_id"],
                                    hidden_lines(cell.source)))
    return found


def build_report(assignment: str, student: str, autograded: Path,
                 scores: dict[str, tuple[float | None, float, float | None]], feedback: Path | None,
                 cell_timeout_s: int, graded: list[GradedCell] | None = None) -> GradeReport:
    """The report for one autograded notebook.

    ``graded`` (from :func:`graded_cells` of the source) decides which cells count and their
    maximum; without it, the cells ``scores`` names (the gradebook's) count, in the executed order.
    """
    executed = {}
    notes: list[str] = []
    for cell in nbformat.read(autograded, as_version=4).cells:
        meta = cell.metadata.get("nbgrader", {})
        grade_id = meta.get("grade_id")
        if grade_id and meta.get("grade"):
            executed.setdefault(grade_id, cell)
        elif meta.get("solution") and cell.cell_type == "code":
            reason = failure_reason(cell, cell_timeout_s)
            if reason and "NotImplementedError" not in reason and not reason.startswith(NOT_DONE_YET):
                notes.append(f"your answer cell {grade_id!r} failed: {_with_cause(reason)}")
            elif reason:
                notes.append(f"answer cell {grade_id!r} is not done yet")
    if graded is None:
        graded = [GradedCell(grade_id, scores[grade_id][1], grade_id) for grade_id in executed if grade_id in scores]
        graded += [GradedCell(grade_id, value[1], grade_id) for grade_id, value in scores.items()
                   if grade_id not in executed]
    cells: list[CellScore] = []
    for expected in graded:
        cell = executed.get(expected.grade_id)
        if cell is None:
            cells.append(CellScore(expected.grade_id, 0.0, expected.max_points,
                                   "deleted, or its nbgrader metadata edited away; copy it back from "
                                   f"a fresh copy (`eoslab reset {assignment}`; yours is kept as a backup)",
                                   expected.title, missing=True))
            notes.append(f"graded cell `{expected.grade_id}` was missing: 0 / {expected.max_points:g}")
            continue
        points, _, _ = scores.get(expected.grade_id, (0.0, expected.max_points, None))
        reason = ""
        if points is None:
            reason = "graded by your instructor"
        elif points < expected.max_points:
            failure = failure_reason(cell, cell_timeout_s)
            if not failure:
                said = printed(cell).splitlines()
                failure = _short(said[-1]) if said else "see the cell's output"
            reason = _with_cause(failure)
        cells.append(CellScore(expected.grade_id, points, expected.max_points, reason, expected.title,
                               output=printed(cell)))
    return GradeReport(assignment, student, cells, notes, feedback, autograded)
