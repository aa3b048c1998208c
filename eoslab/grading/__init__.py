"""Grading for the course, on nbgrader: generate student versions, autograde, report, reset.

- :mod:`.course` — where the course is, its assignments, nbgrader's config loaded by path;
- :mod:`.workspace` — a throwaway nbgrader course root per run (generate + autograde + feedback);
- :mod:`.report` — scores per graded cell with the reason for every lost point;
- :mod:`.generate` — ``course/`` regenerated from ``solutions/`` without losing a learner's work;
- :mod:`.variants` — notebooks with answers swapped in (wrong answers, an endless loop) for tests;
- :mod:`.widget` — :class:`GradeButton`, a button that grades the saved notebook from a cell.
"""

from __future__ import annotations

from typing import Any

__all__ = ["GradeButton", "grade_notebook"]


def grade_notebook(assignment: str, notebook: Any = None, **kwargs: Any) -> Any:
    """Autograde ``notebook`` (default: ``course/<assignment>/<assignment>.ipynb``); see :mod:`.selfgrade`."""
    from .selfgrade import grade_notebook as _grade

    return _grade(assignment, notebook, **kwargs)


def __getattr__(name: str) -> Any:
    if name == "GradeButton":  # ipywidgets only when a notebook asks for the button
        from .widget import GradeButton

        return GradeButton
    raise AttributeError(name)
