"""Feedback pages a class releases (``nbgrader generate_feedback``) without the hidden tests.

nbgrader's GenerateFeedback renders the autograded notebook as it is: every test cell with its
hidden tests restored, and every failure's IPython traceback, which quotes the failing source
lines. Released to learners, that hands out the tests (and the keys of the knowledge checks).
``nbgrader_config.py`` therefore runs :class:`HideHiddenTests` before rendering: it removes each
``### BEGIN HIDDEN TESTS`` … ``### END HIDDEN TESTS`` region (nbgrader's own ClearHiddenTests)
and cuts every error traceback down to its last line, ``Name: message``, which still says what
went wrong. Scores are read before it runs (GetGrades), so they are unchanged. The instructor keeps
everything in the autograded notebook (``.nbgrader/autograded/…``).
"""

from __future__ import annotations

from typing import Any

from nbgrader.preprocessors import ClearHiddenTests, GetGrades


class HideHiddenTests(ClearHiddenTests):
    """ClearHiddenTests, plus tracebacks cut to ``Name: message`` (they quote hidden source lines)."""

    def preprocess_cell(self, cell: Any, resources: Any, cell_index: int) -> tuple[Any, Any]:
        cell, resources = super().preprocess_cell(cell, resources, cell_index)
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                ename, evalue = output.get("ename", "Error"), output.get("evalue", "")
                output["traceback"] = [f"{ename}: {evalue}" if evalue else ename]
        return cell, resources


def feedback_preprocessors() -> list[type]:
    """What ``c.GenerateFeedback.preprocessors`` should be: grades first, then the hiding, then styles."""
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor

    return [GetGrades, HideHiddenTests, CSSHTMLHeaderPreprocessor]
