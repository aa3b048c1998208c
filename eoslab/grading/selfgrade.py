"""`eoslab grade`: autograde a learner's saved notebook against the hidden tests, never touching it.

Before anything runs, the notebook must be a readable Jupyter notebook (else one line naming the
file and where its JSON breaks), so a broken file is named at once instead of after a minute of
failing cells. (``eoslab grade`` also checks that a broker answers first: eoslab.cli.grade.)

The learner's file is copied into a scratch nbgrader course under ``.nbgrader/self-grade/<NN-slug>``
(git-ignored). Its generated student version and gradebook are kept while the source is unchanged
(a stamp of solutions/NN-slug, nbgrader_config.py, the stubs and the cell timeout), which saves
nbgrader's generate step on every later run; the submission is replaced each time. Every run then

- writes the learner's feedback page to ``course/NN-slug/feedback/NN-slug.html`` (:mod:`.feedback`:
  no hidden test source; JupyterLab opens it); the executed notebook, hidden tests included, stays in
  the workspace's ``autograded/`` for an instructor (nbgrader's own HTML page is not written: ~2 s);
- records an :class:`~.progress.Attempt` (score, maximum, time, the page relative to ``course/``)
  in the learner's progress file, which ``eoslab progress`` and the start page's table read.

The broker the notebook uses is the learner's own (``KAFKA_BOOTSTRAP_SERVERS`` or the embedded one).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
from collections.abc import Iterator
from pathlib import Path

from typing import TYPE_CHECKING

from ..errors import EoslabError
from .course import COURSE, check_assignment, course_root, student_notebook
from .progress import Attempt, now_utc, record_attempt

if TYPE_CHECKING:
    from .report import GradeReport

# nbgrader, nbformat and SQLAlchemy are imported where a run needs them, not here: on a loaded
# machine they take seconds, and a broken file or a stopped broker must be named before that.

SELF_GRADE_DIR = Path(".nbgrader") / "self-grade"


def check_notebook_file(path: Path, assignment: str) -> None:
    """Nothing if ``path`` holds a notebook; else one line saying why it cannot be graded."""
    fix = (f"undo the edit that broke it (a backup may be in course/{assignment}/backups/), or start over with "
           f"`eoslab reset {assignment}` (yours is kept as a backup)")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise EoslabError(f"{path} is not a notebook: it is not UTF-8 text; {fix}") from None
    except OSError as error:
        raise EoslabError(f"cannot read {path}: {error.strerror or error}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise EoslabError(f"{path} is not valid JSON (line {error.lineno}, column {error.colno}: {error.msg}), "
                          f"so it cannot be graded; {fix}") from None
    # The shape nbformat 4 requires (checked here without nbformat, whose import takes seconds).
    problem = ("it is not a JSON object" if not isinstance(document, dict)
               else "it has no list of cells" if not isinstance(document.get("cells"), list)
               else "it names no nbformat 4" if document.get("nbformat") != 4
               else "a cell is not an object with a cell_type" if not all(
                   isinstance(cell, dict) and "cell_type" in cell for cell in document["cells"])
               else "")
    if problem:
        raise EoslabError(f"{path} is JSON but not a Jupyter notebook ({problem}); {fix}")


@contextlib.contextmanager
def _one_run_at_a_time(folder: Path, assignment: str) -> Iterator[None]:
    """Hold ``<folder>/<assignment>.lock``; a second run of the same assignment is refused at once
    (both would replace the same scratch course under each other)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{assignment}.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise EoslabError(f"another grading run of {assignment} is in progress (the button, a cell or a "
                              "terminal); wait for its score table, then grade again") from None
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def learner_notebook(assignment: str, notebook: Path | str | None = None, root: Path | None = None) -> Path:
    """The notebook to grade (default: the course's copy), checked to be a readable notebook file."""
    root = root or course_root()
    check_assignment(assignment, root)
    path = Path(notebook).expanduser() if notebook else student_notebook(assignment, root)
    if not path.is_file():
        hint = (f"pass the path of your notebook: `eoslab grade {assignment} path/to/{assignment}.ipynb`"
                if notebook else f"restore it with `eoslab reset {assignment}` or pass the path of your notebook")
        raise EoslabError(f"no notebook at {path}; {hint}")
    if path.suffix != ".ipynb":
        raise EoslabError(f"{path} is not a notebook (.ipynb); pass the file you work in")
    check_notebook_file(path, assignment)
    return path


def grade_notebook(assignment: str, notebook: Path | str | None = None, *,
                   cell_timeout_s: int | None = None, record: bool = True) -> "GradeReport":
    """Grade the saved notebook; write the learner's feedback page and (``record``) the attempt."""
    from .feedback import write_learner_page
    from .report import graded_cells
    from .workspace import GradingWorkspace

    root = course_root()
    path = learner_notebook(assignment, notebook, root)
    with _one_run_at_a_time(root / SELF_GRADE_DIR, assignment):
        workspace = GradingWorkspace(assignment, directory=root / SELF_GRADE_DIR / assignment, root=root,
                                     cell_timeout_s=cell_timeout_s, reuse=True)
        report = workspace.grade(path.resolve(), instructor_feedback=False)
    hidden = {cell.grade_id: cell.hidden for cell in graded_cells(workspace.source_notebook)}
    report.feedback = write_learner_page(report, root / COURSE, hidden)
    if record:
        record_attempt(Attempt(assignment, report.total, report.max_total, now_utc(),
                               report.feedback.relative_to(root / COURSE).as_posix()))
    return report
