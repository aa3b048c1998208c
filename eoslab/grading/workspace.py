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

import contextlib
import hashlib
import logging
import os
import re
import shutil
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
from nbgrader.api import Gradebook
from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory
from sqlalchemy.exc import SAWarning
from traitlets.config import Config

from ..errors import EoslabError
from .course import SOLUTIONS, check_assignment, course_root, load_config
from .demos import autograde_preprocessors, skipped_in
from .report import GradeReport, build_report, graded_cells

LEARNER = "learner"
STAMP_FILE = "generated-from.sha256"
_ERROR_LINE = re.compile(r"^\s*\w+(Error|Exception): .+")
_DEAD_KERNEL = re.compile(r"DeadKernelError|Kernel died|kernel died", re.I)
# The kernel's "running over TCP without encryption" warning is noise on loopback; errors still show.
KERNEL_ARGUMENTS = ["--HistoryManager.hist_file=:memory:", "--IPKernelApp.log_level=ERROR"]


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """nbgrader's gradebook triggers SQLAlchemy autoflush warnings on every autograde; they say
    nothing a learner or instructor can act on, so they are dropped while nbgrader runs."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=SAWarning)
        yield


def _ensure_tools_on_path() -> None:
    """nbgrader runs ``alembic`` from PATH to check its gradebook; put this environment's bin/ first."""
    tools = str(Path(sys.prefix) / "bin")
    path = os.environ.get("PATH", "")
    if tools not in path.split(os.pathsep):
        os.environ["PATH"] = tools + os.pathsep + path


class GradingWorkspace:
    """One assignment's scratch course root: ``source/``, ``release/``, ``submitted/`` … and a gradebook."""

    def __init__(self, assignment: str, *, directory: Path | None = None, root: Path | None = None,
                 cell_timeout_s: int | None = None, reuse: bool = False) -> None:
        """``reuse``: keep the generated student version and gradebook of an earlier workspace in
        ``directory`` when it was made from the same source (:meth:`source_stamp`); a changed
        source, config or an incomplete earlier run starts afresh. Without it, always afresh."""
        self.repo = root or course_root()
        self.assignment = check_assignment(assignment, self.repo)
        self.directory = Path(directory) if directory else Path(tempfile.mkdtemp(prefix=f"eoslab-{assignment}-"))
        self.config = self._config(cell_timeout_s)
        stamp = self._stamp = self.source_stamp()
        stamp_file = self.directory / STAMP_FILE
        self._generated = bool(reuse and stamp_file.is_file() and stamp_file.read_text() == stamp
                               and (self.directory / "gradebook.db").is_file() and self.release_folder.is_dir())
        if self._generated:
            return
        if self.directory.exists():
            shutil.rmtree(self.directory)  # a fresh gradebook: nothing left from an earlier run
        self.directory.mkdir(parents=True)
        (self.directory / "exchange").mkdir()  # nbgrader's API lists it on start-up
        shutil.copytree(self.repo / SOLUTIONS / assignment, self.directory / "source" / assignment,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))

    def source_stamp(self) -> str:
        """A hash of what the student version and gradebook are made from: the assignment's source
        folder, nbgrader_config.py and the eoslab module generation runs (stubs)."""
        digest = hashlib.sha256()
        folder = self.repo / SOLUTIONS / self.assignment
        inputs = sorted(path for path in folder.rglob("*") if path.is_file()
                        and ".ipynb_checkpoints" not in path.parts and "__pycache__" not in path.parts)
        inputs += [self.repo / "nbgrader_config.py", Path(__file__).with_name("stubs.py")]
        for path in inputs:
            digest.update(str(path.relative_to(self.repo) if path.is_relative_to(self.repo) else path.name).encode())
            digest.update(path.read_bytes())
        return digest.hexdigest()

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
        config.NbGraderAPI.log_level = logging.WARNING
        if cell_timeout_s is not None:
            config.Execute.timeout = cell_timeout_s
        config.Execute.extra_arguments = KERNEL_ARGUMENTS
        config.Execute.on_cell_start = _cell_started
        config.Autograde.autograde_preprocessors = autograde_preprocessors()  # demo cells skipped (.demos)
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
            with _quiet():
                generated = self._api().generate_assignment(self.assignment, force=True, create=True)
            _check(generated, f"generating the student version of {self.assignment}")
            self._generated = True
            (self.directory / STAMP_FILE).write_text(self._stamp)
        return self.release_folder / f"{self.assignment}.ipynb"

    def student_version(self) -> nbformat.NotebookNode:
        return nbformat.read(self.generate(), as_version=4)

    @property
    def source_notebook(self) -> Path:
        return self.directory / "source" / self.assignment / f"{self.assignment}.ipynb"

    def grade(self, notebook: Path | nbformat.NotebookNode, student: str = LEARNER, *,
              instructor_feedback: bool = True) -> GradeReport:
        """Autograde one notebook as ``student``'s submission (and write nbgrader's HTML feedback).

        ``notebook`` is a path (copied, never modified) or an in-memory notebook. The result holds
        every graded cell of the source with its score (0 for one the notebook lacks) and, for a
        cell below full marks, why. ``instructor_feedback``: also write nbgrader's feedback page
        (hidden tests included, for an instructor), at about a second's cost.
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
        _RUNNING.clear()
        with _quiet():
            result = api.autograde(self.assignment, student, force=True, create=True)
        if not result.get("success") and _DEAD_KERNEL.search(f"{result.get('log')}\n{result.get('error')}"):
            raise EoslabError(self._dead_kernel_message())
        _check(result, f"autograding {student}'s notebook")
        if instructor_feedback:
            with _quiet():
                written = api.generate_feedback(self.assignment, student, force=True)
            _check(written, f"writing feedback for {student}")
        autograded = self.directory / "autograded" / student / self.assignment / f"{self.assignment}.ipynb"
        feedback = self.directory / "feedback" / student / self.assignment / f"{self.assignment}.html"
        with _quiet(), Gradebook(self.config.CourseDirectory.db_url, course_id=self.config.CourseDirectory.course_id) as gradebook:
            submission = gradebook.find_submission_notebook(self.assignment, self.assignment, student)
            scores = {grade.name: (grade.score, grade.max_score, grade.auto_score) for grade in submission.grades}
        report = build_report(self.assignment, student, autograded, scores, None, self.cell_timeout_s,
                              graded_cells(self.source_notebook))
        report.demos_skipped = skipped_in(autograded)
        report.instructor_feedback = feedback if feedback.exists() else None
        report.feedback = report.instructor_feedback
        return report

    def _dead_kernel_message(self) -> str:
        index, cell = _RUNNING.get("cell", (None, None))
        where = "a cell"
        if cell is not None:
            grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            code = "; ".join(line.strip() for line in cell.get("source", "").splitlines() if line.strip())
            label = f"`{grade_id}`" if grade_id else f"`{code[:70]}{'…' if len(code) > 70 else ''}`"
            where = f"cell {index + 1 if index is not None else '?'} ({label})"
        return (f"the notebook's kernel died while running {where}: the code there ended Python "
                "(os._exit, a crash, memory); change that cell, save, and grade again")


#: The cell nbclient started last (its on_cell_start hook). traitlets deep-copies configured values,
#: so the hook is a plain function (copied as itself) writing here; one autograde runs at a time.
_RUNNING: dict[str, tuple[int | None, Any]] = {}


def _cell_started(cell: Any = None, cell_index: int | None = None, **_: Any) -> None:
    _RUNNING["cell"] = (cell_index, cell)


def _check(result: dict, doing: str) -> None:
    if not result.get("success"):
        text = f"{result.get('log') or ''}\n{result.get('error') or ''}"
        errors = [line.strip() for line in text.splitlines()
                  if _ERROR_LINE.match(line) and "NbGraderException" not in line]
        raise EoslabError(f"nbgrader failed {doing}: {errors[-1] if errors else 'see its log'}; "
                          "run `eoslab instructor validate` to check the source notebook")
