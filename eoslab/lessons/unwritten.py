"""Exercises not written yet: a "not done yet" note instead of a traceback, so Run All reaches the end.

A blank student notebook holds stubs: a function body ``raise NotImplementedError()`` (nbgrader's
stub) and answer placeholders ``answer = ...`` (see :mod:`eoslab.grading.stubs`). Without help, the
first cell that calls a stub raises, and JupyterLab's Run All stops there, before the demos,
panels and grade button further down. This module turns "not written yet" into a one-line note:

- ``with when_written():`` around a *check it yourself* cell: a stub raising inside prints
  ``not done yet — write produce_values first …`` on stdout and the cell ends normally;
- ``with when_written(graded=True):`` around a *graded* test cell: the same note goes to
  **stderr**, which nbgrader scores zero (``nbgrader.utils.determine_grade``) and its Validator
  counts as failed, so a blank notebook still earns nothing while Run All carries on;
- :func:`require_answer` raises :class:`NotDoneYet` for a placeholder (``...``) left unanswered,
  for graded cells that use an answer in other ways than :func:`eoslab.lessons.score_single`;
- :func:`is_written` / :func:`newest_definition` tell a panel whether the learner's function is
  still the stub, and find the definition the learner ran last.

What counts as "not written": a :class:`NotDoneYet`, or a bare ``NotImplementedError()`` with no
message (exactly nbgrader's stub). A ``NotImplementedError("…")`` with a message comes from real
code (a library, the learner's own ``raise``) and propagates like any other error, as does every
other exception: a wrong answer still fails loudly. Not covered: a stub inside a function that
catches ``NotImplementedError`` itself.
"""

from __future__ import annotations

import ast
import inspect
import sys
import textwrap
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

NOT_DONE_YET = "not done yet"
"""Every note starts with this, so tests (and the browser tests) can tell a note from an error."""


class NotDoneYet(NotImplementedError):
    """An exercise this code needs is not written yet; the message names it and what to do."""


def is_unwritten_error(error: BaseException) -> bool:
    """True for :class:`NotDoneYet` and for nbgrader's stub (a bare ``NotImplementedError()``)."""
    return isinstance(error, NotDoneYet) or (type(error) is NotImplementedError and not error.args)


def _stub_name(error: BaseException) -> str | None:
    """The notebook function whose stub raised ``error`` (the innermost notebook frame), if any."""
    traceback = error.__traceback__
    name = None
    while traceback is not None:
        frame = traceback.tb_frame
        if frame.f_globals.get("__name__") == "__main__" and frame.f_code.co_name != "<module>":
            name = frame.f_code.co_name
        traceback = traceback.tb_next
    return name


def note_for(error: BaseException, hint: str | None = None) -> str:
    """The one-line note for an unwritten exercise: what to write, where, and what happens then."""
    if isinstance(error, NotDoneYet) and error.args:
        what = str(error)
    else:
        name = _stub_name(error)
        what = f"write {name}()" if name else "finish the exercise above"
    where = f" ({hint})" if hint else ""
    return f"{NOT_DONE_YET} — {what}{where} first, run its cell, then this one again"


@contextmanager
def when_written(*, graded: bool = False, hint: str | None = None) -> Iterator[None]:
    """Run the block; if it hits an unwritten exercise, print a note instead of raising.

    ``graded=True`` (in nbgrader test cells) writes the note to stderr, so the cell scores zero.
    ``hint`` says where the exercise is, e.g. ``"Exercise 1"``.
    """
    try:
        yield
    except NotImplementedError as error:
        if not is_unwritten_error(error):
            raise
        note = note_for(error, hint)
        if graded:
            print(f"{note}: this test scores 0 until then", file=sys.stderr, flush=True)
        else:
            print(note, flush=True)


def require_answer(name: str, value: Any) -> Any:
    """``value``, unless it is still the placeholder ``...``: then :class:`NotDoneYet` naming ``name``."""
    if value is Ellipsis:
        raise NotDoneYet(f"answer {name} (replace its ...)")
    return value


def is_placeholder(value: Any) -> bool:
    """True for an answer left as the placeholder ``...``."""
    return value is Ellipsis


# ---- functions a panel runs ----------------------------------------------------------------------

def newest_definition(function: Callable[..., Any]) -> Callable[..., Any]:
    """The function of the same name the notebook defines *now* (the learner may have re-run its
    cell since ``function`` was handed over); ``function`` itself when there is none."""
    module_globals = getattr(function, "__globals__", {})
    newest = module_globals.get(getattr(function, "__name__", ""), function)
    return newest if isinstance(newest, types.FunctionType) else function


def is_written(function: Callable[..., Any]) -> bool:
    """False while ``function``'s body is only the stub (docstring, comments, ``raise NotImplementedError()``)."""
    try:
        source = textwrap.dedent(inspect.getsource(function))
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError):
        return True  # no source to judge: let running it tell
    definition = next((node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))), None)
    if definition is None:
        return True
    body = list(definition.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]  # the docstring
    return not (len(body) == 1 and _is_bare_not_implemented(body[0]))


def _is_bare_not_implemented(statement: ast.stmt) -> bool:
    if not isinstance(statement, ast.Raise) or statement.exc is None:
        return False
    raised = statement.exc
    if isinstance(raised, ast.Call):
        return isinstance(raised.func, ast.Name) and raised.func.id == "NotImplementedError" and not raised.args
    return isinstance(raised, ast.Name) and raised.id == "NotImplementedError"


def written_or_note(function: Callable[..., Any], hint: str | None = None) -> tuple[Callable[..., Any], str | None]:
    """The newest definition of ``function``, and a note if it is still the stub (else None)."""
    newest = newest_definition(function)
    if is_written(newest):
        return newest, None
    where = f" ({hint})" if hint else ""
    return newest, f"{NOT_DONE_YET} — write {newest.__name__}(){where} and run its cell; this panel runs it"
