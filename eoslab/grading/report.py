"""The result of autograding one notebook: a score per graded cell, why points were lost, a table.

Scores come from nbgrader's gradebook; reasons come from the autograded notebook's outputs, the
same rule nbgrader applies (utils.determine_grade): an error output or anything on stderr scores a
test cell zero; a number as the last expression is partial credit. A timed-out cell shows nbgrader's
CellTimeoutError and is reported as "timed out". Answer cells that failed are listed as notes,
because their failure is usually why a later test cell lost its points.
"""

from __future__ import annotations

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


@dataclass(frozen=True)
class CellScore:
    grade_id: str
    points: float | None  # None: needs a person (a manually graded answer)
    max_points: float
    reason: str = ""

    @property
    def full(self) -> bool:
        return self.points is not None and self.points >= self.max_points

    @property
    def timed_out(self) -> bool:
        return self.reason.startswith("timed out")


@dataclass
class GradeReport:
    assignment: str
    student: str
    cells: list[CellScore]
    notes: list[str] = field(default_factory=list)
    feedback: Path | None = None
    autograded: Path | None = None  # the executed notebook, hidden tests included

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
            lines.append(f"{cell.grade_id:<{width}}  {earned:>4} / {cell.max_points:<3g}  {cell.reason}".rstrip())
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
            return _short(f"wrote to stderr (a graded cell must not): {output.text}")
    return ""


def build_report(assignment: str, student: str, autograded: Path,
                 scores: dict[str, tuple[float | None, float, float | None]], feedback: Path | None,
                 cell_timeout_s: int) -> GradeReport:
    cells: list[CellScore] = []
    notes: list[str] = []
    for cell in nbformat.read(autograded, as_version=4).cells:
        meta = cell.metadata.get("nbgrader", {})
        grade_id = meta.get("grade_id")
        if grade_id in scores:
            points, max_points, _ = scores[grade_id]
            reason = ""
            if points is None:
                reason = "graded by your instructor"
            elif points < max_points:
                reason = failure_reason(cell, cell_timeout_s) or "partial credit (see the cell's output)"
            cells.append(CellScore(grade_id, points, max_points, reason))
        elif meta.get("solution") and cell.cell_type == "code":
            reason = failure_reason(cell, cell_timeout_s)
            if reason and "NotImplementedError" not in reason:
                notes.append(f"your answer cell {grade_id!r} failed: {reason}")
            elif reason:
                notes.append(f"answer cell {grade_id!r} is not done yet (NotImplementedError)")
    return GradeReport(assignment, student, cells, notes, feedback, autograded)
