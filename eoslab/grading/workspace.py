"""A scratch nbgrader course for one assignment: generate its student version, autograde notebooks.

Every run gets its own course root and gradebook (a throwaway SQLite file), never the repo's, so
that grading a learner's notebook or a test's variant cannot lose work or trip over an earlier
submission: nbgrader's ``generate_assignment --force`` deletes the release folder, and fails after
deleting it once the gradebook holds submissions. The source is copied from ``solutions/NN-slug``;
nothing in the repo is written.

The execution settings (per-cell timeout, interrupt on timeout) come from the repo's
``nbgrader_config.py``; a caller may lower the timeout (tests of the infinite-loop behaviour).
Kernels inherit this process's environment, so ``KAFKA_BOOTSTRAP_SERVERS`` reaches the notebook.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook
from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory
from traitlets.config import Config

from ..errors import EoslabError
from .course import SOLUTIONS, check_assignment, course_root, load_config
from .report import GradeReport, build_report

LEARNER = "learner"
_ERROR_LINE = re.compile(r"^\s*\w+(Error|Exception): .+")


def _ensure_tools_on_path() -> None:
    """nbgrader runs ``alembic`` from PATH to check its gradebook; put this environment's bin/ first."""
    tools = str(Path(sys.prefix) / "bin")
    path = os.environ.get("PATH", "")
    if tools not in path.split(os.pathsep):
        os.environ["PATH"] = tools + os.pathsep + path


class GradingWorkspace:
    """One assignment's scratch course root: ``source/``, ``release/``, ``submitted/`` … and a gradebook."""

    def __init__(self, assignment: str, *, directory: Path | None = None, root: Path | None = None,
                 cell_timeout_s: int | None = None) -> None:
        self.repo = root or course_root()
        self.assignment = check_assignment(assignment, self.repo)
        self.directory = Path(directory) if directory else Path(tempfile.mkdtemp(prefix=f"eoslab-{assignment}-"))
        if self.directory.exists():
            shutil.rmtree(self.directory)  # a fresh gradebook every time: nothing left from an earlier run
        self.directory.mkdir(parents=True)
        shutil.copytree(self.repo / SOLUTIONS / assignment, self.directory / "source" / assignment,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        self.config = self._config(cell_timeout_s)
        self._generated = False

    def _config(self, cell_timeout_s: int | None) -> Config:
        config = load_config(self.repo)
        course = config.CourseDirectory
        course.root = str(self.directory)
        course.source_directory = "source"
        course.release_directory = "release"
        course.submitted_directory = "submitted"
        course.autograded_directory = "autograded"
        course.feedback_directory = "feedback"
        course.db_url = f"sqlite:///{self.directory / 'gradebook.db'}"
        config.Exchange.root = str(self.directory / "exchange")
        (self.directory / "exchange").mkdir(exist_ok=True)  # nbgrader's API lists it on start-up
        config.NbGraderAPI.log_level = logging.WARNING
        if cell_timeout_s is not None:
            config.Execute.timeout = cell_timeout_s
        return config

    @property
    def cell_timeout_s(self) -> int:
        return int(self.config.Execute.timeout)

    def _api(self) -> NbGraderAPI:
        _ensure_tools_on_path()
        return NbGraderAPI(CourseDirectory(config=self.config), config=self.config)

    @property
    def release_folder(self) -> Path:
        return self.directory / "release" / self.assignment

    def generate(self) -> Path:
        """Generate the student version (outputs cleared, solutions and hidden tests removed)."""
        if not self._generated:
            _check(self._api().generate_assignment(self.assignment, force=True, create=True),
                   f"generating the student version of {self.assignment}")
            self._generated = True
        return self.release_folder / f"{self.assignment}.ipynb"

    def student_version(self) -> nbformat.NotebookNode:
        return nbformat.read(self.generate(), as_version=4)

    def grade(self, notebook: Path | nbformat.NotebookNode, student: str = LEARNER) -> GradeReport:
        """Autograde one notebook as ``student``'s submission and write its HTML feedback.

        ``notebook`` is a path (copied, never modified) or an in-memory notebook. The result holds
        every graded cell's score and, for a cell below full marks, why.
        """
        self.generate()  # autograde restores test cells (hidden tests included) from the gradebook
        submitted = self.directory / "submitted" / student / self.assignment
        if submitted.exists():
            shutil.rmtree(submitted)
        submitted.mkdir(parents=True)
        target = submitted / f"{self.assignment}.ipynb"
        if isinstance(notebook, Path | str):
            shutil.copyfile(notebook, target)
        else:
            nbformat.write(notebook, target)
        api = self._api()
        _check(api.autograde(self.assignment, student, force=True, create=True), f"autograding {student}'s notebook")
        _check(api.generate_feedback(self.assignment, student, force=True), f"writing feedback for {student}")
        autograded = self.directory / "autograded" / student / self.assignment / f"{self.assignment}.ipynb"
        feedback = self.directory / "feedback" / student / self.assignment / f"{self.assignment}.html"
        with Gradebook(self.config.CourseDirectory.db_url, course_id=self.config.CourseDirectory.course_id) as gradebook:
            submission = gradebook.find_submission_notebook(self.assignment, self.assignment, student)
            scores = {grade.name: (grade.score, grade.max_score, grade.auto_score) for grade in submission.grades}
        return build_report(self.assignment, student, autograded, scores,
                            feedback if feedback.exists() else None, self.cell_timeout_s)


def _check(result: dict, doing: str) -> None:
    if not result.get("success"):
        text = f"{result.get('log') or ''}\n{result.get('error') or ''}"
        errors = [line.strip() for line in text.splitlines()
                  if _ERROR_LINE.match(line) and "NbGraderException" not in line]
        raise EoslabError(f"nbgrader failed {doing}: {errors[-1] if errors else 'see its log'}; "
                          "run `eoslab instructor validate` to check the source notebook")
