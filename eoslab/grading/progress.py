"""The learner's own grading history: one JSON file, one entry per grading run.

Every ``eoslab grade`` (the command, the grade button, ``!eoslab grade`` in a cell) appends an
:class:`Attempt` with :func:`record_attempt`; the start page's progress table and ``eoslab progress``
read the latest attempt per assignment with :func:`latest_attempts`.

The file is ``$EOSLAB_PROGRESS_FILE`` or ``progress.json`` in the course's state directory (next to
the embedded broker's, so a fresh clone starts with no history). Format:
``{"version": 1, "attempts": [{"assignment", "score", "max_score", "graded_at", "feedback"}, …]}``;
``feedback`` is the feedback page's path relative to ``course/`` (or null).

Guarantees: writes are atomic (a temporary file renamed over the old one), so a reader never sees
half a file; a missing, unreadable or malformed file reads as no attempts and is replaced by the
next write, never raised to a learner. Not covered: two grading runs writing at the same instant
(the later rename wins and one attempt is lost; grading runs one at a time per learner).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

VERSION = 1
KEEP = 500  # attempts kept in the file; the table only needs the latest per assignment


@dataclass(frozen=True)
class Attempt:
    assignment: str
    score: float
    max_score: float
    graded_at: str  # ISO 8601, UTC
    feedback: str | None = None  # relative to course/, e.g. "00-orientation/feedback/00-orientation.html"

    @property
    def full_marks(self) -> bool:
        return self.max_score > 0 and self.score >= self.max_score


def now_utc() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def progress_file() -> Path:
    """Where the history lives: ``$EOSLAB_PROGRESS_FILE``, else ``progress.json`` beside the broker's state."""
    explicit = os.environ.get("EOSLAB_PROGRESS_FILE")
    if explicit:
        return Path(explicit).expanduser()
    from ..broker.settings import default_state_dir

    return default_state_dir().parent / "progress.json"


def _read(path: Path) -> list[dict[str, Any]]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    attempts = document.get("attempts") if isinstance(document, dict) else None
    return [entry for entry in attempts or [] if isinstance(entry, dict)]


def _attempt(entry: dict[str, Any]) -> Attempt | None:
    try:
        return Attempt(str(entry["assignment"]), float(entry["score"]), float(entry["max_score"]),
                       str(entry["graded_at"]), entry.get("feedback") or None)
    except (KeyError, TypeError, ValueError):
        return None


def attempts() -> list[Attempt]:
    """Every recorded attempt, oldest first (malformed entries skipped)."""
    return [attempt for attempt in map(_attempt, _read(progress_file())) if attempt is not None]


def latest_attempts() -> dict[str, Attempt]:
    """The newest attempt per assignment."""
    latest: dict[str, Attempt] = {}
    for attempt in attempts():
        latest[attempt.assignment] = attempt  # file order is time order
    return latest


def record_attempt(attempt: Attempt) -> Path:
    """Append ``attempt`` to the history (atomically) and return the file's path."""
    path = progress_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    entries = [asdict(known) for known in attempts()] + [asdict(attempt)]
    document = {"version": VERSION, "attempts": entries[-KEEP:]}
    handle, temporary = tempfile.mkstemp(prefix=".progress-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(document, out, indent=1)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def status_of(attempt: Attempt | None) -> str:
    """'not graded yet', 'done' (full marks in the latest attempt) or 'in progress'."""
    if attempt is None:
        return "not graded yet"
    return "done" if attempt.full_marks else "in progress"


def progress_rows(root: Path | None = None) -> list[dict[str, Any]]:
    """One row per assignment of the course map, with the latest attempt's figures (None: never graded).

    Keys: assignment, label, notebook (relative to ``course/``), status, score, max_score,
    graded_at, feedback. What ``eoslab progress`` prints and the start page's table shows.
    """
    from .coursemap import course_map

    latest = latest_attempts()
    rows = []
    for entry in course_map(root):
        attempt = latest.get(entry.name)
        rows.append({
            "assignment": entry.name, "label": entry.label, "notebook": entry.notebook,
            "status": status_of(attempt),
            "score": None if attempt is None else attempt.score,
            "max_score": None if attempt is None else attempt.max_score,
            "graded_at": None if attempt is None else attempt.graded_at,
            "feedback": None if attempt is None else attempt.feedback,
        })
    return rows
