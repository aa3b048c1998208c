"""nbgrader's Validator on the course: solutions pass every test; student versions pass none.

``nbgrader validate`` exits 0 even when tests fail, so this module reads the Validator's results
instead of its exit code. :func:`validate_assignment` executes the notebooks (the instructor's
check, ~one notebook run each). :func:`failed_cells` / :func:`passed_cells` apply the same
Validator rules to a notebook that an autograde run has already executed, so the test suite checks
validation without running each notebook once more.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field

import nbformat
from nbgrader.validator import Validator

from .course import load_config, source_notebook
from .generate import student_version


@dataclass
class ValidationResult:
    assignment: str
    solution_failures: list[str] = field(default_factory=list)
    student_passes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.solution_failures and not self.student_passes

    def lines(self) -> list[str]:
        if self.ok:
            return [f"{self.assignment}: solutions pass every test; the student version passes none"]
        return ([f"{self.assignment}: the SOLUTION fails: {item}" for item in self.solution_failures]
                + [f"{self.assignment}: the STUDENT version passes (a solution leaked?): {item}"
                   for item in self.student_passes])


def _first_line(source: str) -> str:
    return source.strip().splitlines()[0][:100] if source.strip() else "(empty cell)"


def validate_assignment(assignment: str) -> ValidationResult:
    config = load_config()
    result = ValidationResult(assignment)
    outcome = Validator(config=config).validate(str(source_notebook(assignment)))
    result.solution_failures = [_first_line(cell["source"]) for key in ("failed", "changed", "type_changed")
                                for cell in outcome.get(key, [])]
    workspace = student_version(assignment)
    try:
        inverted = Validator(config=config, invert=True).validate(str(workspace.generate()))
        result.student_passes = [_first_line(cell["source"]) for cell in inverted.get("passed", [])]
    finally:
        shutil.rmtree(workspace.directory, ignore_errors=True)
    return result


def failed_cells(executed: nbformat.NotebookNode) -> list[str]:
    """Graded cells the Validator counts as failed in an already executed notebook."""
    return [_first_line(cell.source) for cell in Validator()._get_failed_cells(executed)]


def passed_cells(executed: nbformat.NotebookNode) -> list[str]:
    """Graded cells the Validator counts as passed (what ``invert=True`` reports)."""
    return [_first_line(cell.source) for cell in Validator()._get_passed_cells(executed)]
