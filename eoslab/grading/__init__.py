"""Grading for the course, on nbgrader: generate student versions, autograde, report, reset.

- :mod:`.course` — where the course is, its assignments, nbgrader's config loaded by path;
- :mod:`.workspace` — a throwaway nbgrader course root per run (generate + autograde + feedback);
- :mod:`.demos` — cells tagged ``demo`` are skipped when grading, and the check that none is needed;
- :mod:`.report` — scores per graded cell of the source with the reason for every lost point;
- :mod:`.selfgrade` — ``eoslab grade``: checks, a kept scratch workspace, feedback page, attempt;
- :mod:`.feedback` — the learner's feedback page under ``course/NN-slug/feedback/`` (no hidden tests);
- :mod:`.progress` — the learner's grading history (``eoslab progress``, the start page's table);
- :mod:`.generate` — ``course/`` regenerated from ``solutions/`` without losing a learner's work;
- :mod:`.variants` — notebooks with answers swapped in (wrong answers, an endless loop) for tests;
- :mod:`.widget` — :class:`GradeButton`, a button that grades the saved notebook from a cell;
- :mod:`.validation` — every solution earns full marks and every blank notebook zero;
- :mod:`.labserver` — a JupyterLab server on loopback with its token, for browser tests and benchmarks.
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
