"""Where the course lives and which assignments it has; nbgrader's configuration loaded explicitly.

nbgrader reads ``nbgrader_config.py`` only from the current directory, and ``--CourseDirectory.root``
does not load that root's file. Everything in :mod:`eoslab.grading` therefore loads the repo's
``nbgrader_config.py`` here, by path, and overrides only what a run needs (a throwaway gradebook,
a scratch course root), so `eoslab grade` works from any directory, a notebook cell included.

The course root is found from ``EOSLAB_COURSE_ROOT``, else by walking up from the current
directory, else next to the installed package (an editable install of the repo). An assignment is
a folder ``solutions/NN-slug/`` holding ``NN-slug.ipynb``; nothing else is registered anywhere.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from ..errors import EoslabError

CONFIG_FILE = "nbgrader_config.py"
SOLUTIONS = "solutions"
COURSE = "course"
ASSIGNMENT_PATTERN = re.compile(r"^\d\d-[a-z0-9-]+$")


def _is_course_root(path: Path) -> bool:
    return (path / CONFIG_FILE).is_file() and (path / SOLUTIONS).is_dir()


def course_root() -> Path:
    """The repository that holds nbgrader_config.py, solutions/ and course/."""
    configured = os.environ.get("EOSLAB_COURSE_ROOT")
    if configured:
        root = Path(configured).expanduser().resolve()
        if not _is_course_root(root):
            raise EoslabError(f"EOSLAB_COURSE_ROOT={configured} holds no {CONFIG_FILE} and {SOLUTIONS}/; "
                              "point it at the course repository or unset it")
        return root
    here = Path.cwd().resolve()
    for candidate in (here, *here.parents, Path(__file__).resolve().parents[2]):
        if _is_course_root(candidate):
            return candidate
    raise EoslabError(f"no course repository found (a folder with {CONFIG_FILE} and {SOLUTIONS}/); "
                      "run this inside the cloned repository or set EOSLAB_COURSE_ROOT")


def load_config(root: Path | None = None) -> Config:
    """The course's nbgrader configuration, read from ``<root>/nbgrader_config.py``."""
    root = root or course_root()
    loader = PyFileConfigLoader(CONFIG_FILE, path=str(root))
    return loader.load_config()


def assignments(root: Path | None = None) -> list[str]:
    """Every assignment: each ``solutions/NN-slug/`` with its ``NN-slug.ipynb``, sorted."""
    root = root or course_root()
    return sorted(folder.name for folder in (root / SOLUTIONS).iterdir()
                  if folder.is_dir() and ASSIGNMENT_PATTERN.match(folder.name)
                  and (folder / f"{folder.name}.ipynb").is_file())


def check_assignment(name: str, root: Path | None = None) -> str:
    """``name`` if it is an assignment; else an error that lists the ones there are."""
    known = assignments(root)
    if name not in known:
        listing = ", ".join(known) or "none yet"
        raise EoslabError(f"there is no assignment {name!r}; the assignments are: {listing} "
                          f"(e.g. `eoslab grade {known[0] if known else '00-orientation'}`)")
    return name


def source_notebook(name: str, root: Path | None = None) -> Path:
    root = root or course_root()
    return root / SOLUTIONS / name / f"{name}.ipynb"


def student_notebook(name: str, root: Path | None = None) -> Path:
    root = root or course_root()
    return root / COURSE / name / f"{name}.ipynb"
