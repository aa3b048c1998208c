"""`eoslab grade`: autograde a learner's saved notebook against the hidden tests, never touching it.

The learner's file is copied into a scratch nbgrader course under ``.nbgrader/self-grade/<NN-slug>``
(git-ignored, replaced on every run); the HTML feedback stays there until the next run. The broker
the notebook uses is the learner's own (``KAFKA_BOOTSTRAP_SERVERS`` or the embedded one).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import EoslabError
from .course import check_assignment, course_root, student_notebook
from .report import GradeReport
from .workspace import GradingWorkspace

SELF_GRADE_DIR = Path(".nbgrader") / "self-grade"


def grade_notebook(assignment: str, notebook: Path | str | None = None, *,
                   cell_timeout_s: int | None = None) -> GradeReport:
    root = course_root()
    check_assignment(assignment, root)
    path = Path(notebook).expanduser() if notebook else student_notebook(assignment, root)
    if not path.is_file():
        hint = (f"pass the path of your notebook: `eoslab grade {assignment} path/to/{assignment}.ipynb`"
                if notebook else f"restore it with `eoslab reset {assignment}` or pass the path of your notebook")
        raise EoslabError(f"no notebook at {path}; {hint}")
    if path.suffix != ".ipynb":
        raise EoslabError(f"{path} is not a notebook (.ipynb); pass the file you work in")
    workspace = GradingWorkspace(assignment, directory=root / SELF_GRADE_DIR / assignment, root=root,
                                 cell_timeout_s=cell_timeout_s)
    return workspace.grade(path.resolve())
