"""The learner's feedback page: one HTML file per assignment under ``course/NN-slug/feedback/``.

It lives inside ``course/`` so JupyterLab opens it (the grade button and the progress table link
it), and it is rewritten by every grading run. It names each graded cell by the first line of its
docstring, shows its points, the verdict (full marks, partial credit, wrong, missing), the failure
message with its likely cause, and what the cell printed (a knowledge check's explanation).

Guarantee: the page never holds a test cell's source, so no hidden test (``### BEGIN HIDDEN TESTS``
… ``### END HIDDEN TESTS``) reaches the learner; as a second fence, any printed line that contains
a hidden test line is dropped. Error tracebacks are never shown (IPython's show source lines); only
the exception's name and message. nbgrader's own feedback page, with everything, stays in the
grading workspace for an instructor (``GradeReport.instructor_feedback``).

The folder is git-ignored (``/course/*/feedback/``); ``eoslab reset`` and ``eoslab instructor
generate`` touch only the notebook and the assignment's shipped files, so the page survives both.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from .report import CellScore, GradeReport

FEEDBACK = "feedback"
_OUTPUT_CHARS = 2000
_COLOURS = {"full marks": "#2e7d32", "partial credit": "#b26a00", "wrong": "#c62828", "missing": "#c62828",
            "graded by your instructor": "#555"}


def feedback_path(course_folder: Path, assignment: str) -> Path:
    """``course/NN-slug/feedback/NN-slug.html``."""
    return course_folder / assignment / FEEDBACK / f"{assignment}.html"


def _without_hidden(text: str, hidden: Iterable[str]) -> str:
    fences = [line for line in hidden if len(line) >= 8]
    return "\n".join(line for line in text.splitlines() if not any(fence in line for fence in fences))


def _row(cell: CellScore, hidden: Iterable[str]) -> str:
    earned = "—" if cell.points is None else f"{cell.points:g}"
    colour = _COLOURS.get(cell.verdict, "#555")
    reason = f"<div class='reason'>{html.escape(cell.reason)}</div>" if cell.reason and not cell.full else ""
    said = _without_hidden(cell.output, hidden)[-_OUTPUT_CHARS:]
    repeats = " ".join(said.split()) and " ".join(said.split()) in cell.reason  # already the reason
    output = f"<pre>{html.escape(said)}</pre>" if said and not repeats else ""
    return (f"<tr data-grade-id='{html.escape(cell.grade_id)}'><td><b>{html.escape(cell.title)}</b>"
            f"<div class='id'>{html.escape(cell.grade_id)}</div>{reason}{output}</td>"
            f"<td class='points'>{earned} / {cell.max_points:g}</td>"
            f"<td style='color:{colour}'>{html.escape(cell.verdict)}</td></tr>")


def learner_page(report: GradeReport, hidden: dict[str, tuple[str, ...]] | None = None,
                 graded_at: datetime | None = None) -> str:
    """The page as HTML text; ``hidden`` maps grade_id to its hidden test lines (the second fence)."""
    hidden = hidden or {}
    every_hidden = [line for lines in hidden.values() for line in lines]
    when = (graded_at or datetime.now().astimezone()).strftime("%d %b %Y %H:%M")
    rows = "".join(_row(cell, every_hidden) for cell in report.cells)
    notes = "".join(f"<li>{html.escape(_without_hidden(note, every_hidden))}</li>" for note in report.notes)
    notes_html = f"<h2>Notes</h2><ul>{notes}</ul>" if notes else ""
    name = html.escape(report.assignment)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Feedback: {name}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5em; max-width: 60em; }}
table {{ border-collapse: collapse; width: 100%; }}
td, th {{ border-bottom: 1px solid #ddd; padding: .5em; text-align: left; vertical-align: top; }}
.id {{ color: #777; font-size: 85%; font-family: monospace; }}
.reason {{ margin-top: .3em; }}
.points {{ white-space: nowrap; font-family: monospace; }}
pre {{ background: #f6f6f6; padding: .5em; white-space: pre-wrap; margin: .4em 0 0 0; }}
</style></head>
<body>
<h1>Feedback: {name}</h1>
<p class="total">Total: <b>{report.total:g} / {report.max_total:g}</b> · graded {html.escape(when)}
· the hidden tests' code is not shown; each check is named by what it tests.</p>
<table><thead><tr><th>graded check</th><th>points</th><th>verdict</th></tr></thead>
<tbody>{rows}</tbody></table>
{notes_html}
<p>Change your notebook, save it, and grade again: this page is rewritten each time.</p>
</body></html>
"""


def write_learner_page(report: GradeReport, course_folder: Path,
                       hidden: dict[str, tuple[str, ...]] | None = None) -> Path:
    """Write the page to ``course/NN-slug/feedback/NN-slug.html`` (atomically) and return its path."""
    target = feedback_path(course_folder, report.assignment)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_suffix(".html.tmp")
    temporary.write_text(learner_page(report, hidden), encoding="utf-8")
    temporary.replace(target)
    return target
