"""A course of its own for tests that grade or generate (``EOSLAB_COURSE_ROOT``)."""

from __future__ import annotations

import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def course_repo_copy(root: Path, *assignments: str) -> Path:
    """``root`` made a course: nbgrader_config.py and these assignments' solutions, no git history.

    Grading there takes its own lock and scratch course, so a run never meets another test's run of
    the same assignment in the repository (a second run is refused at once, by design)."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "nbgrader_config.py", root)
    for name in assignments:
        shutil.copytree(REPO / "solutions" / name, root / "solutions" / name)
    return root
