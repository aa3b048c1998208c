"""``course/`` regenerated from ``solutions/``, without ever losing a learner's work.

The student version of an assignment is what nbgrader's ``generate_assignment`` makes of
``solutions/NN-slug`` in a throwaway course root (:class:`GradingWorkspace`): outputs cleared,
solutions replaced by stubs, hidden tests removed. Two notebooks are "the same" when their cells
(type, id, source, nbgrader metadata, tags: ``demo`` decides what grading runs) and kernelspec are;
outputs and execution counts never count.

Safety rule: a notebook in ``course/`` is overwritten only if it is missing, already up to date,
identical to the committed version (``git show HEAD:…``), or identical to what this command wrote
last time (kept in ``.nbgrader/generated/``, so an instructor can iterate before committing):
anything else is someone's work. Then
generation refuses, unless ``force``, in which case the notebook is first copied to
``course/NN-slug/backups/NN-slug-<timestamp>.ipynb`` (git-ignored).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat

from ..errors import EoslabError
from .course import COURSE, assignments, check_assignment, course_root
from .workspace import GradingWorkspace

BACKUPS = "backups"
LAST_GENERATED = Path(".nbgrader") / "generated"


def normalised(notebook: nbformat.NotebookNode) -> str:
    """What makes two student versions the same: cells and kernelspec, not outputs."""
    cells = [{"cell_type": cell.cell_type, "id": cell.get("id"), "source": cell.source,
              "nbgrader": cell.metadata.get("nbgrader"), "tags": cell.metadata.get("tags", [])}
             for cell in notebook.cells]
    return json.dumps({"kernelspec": notebook.metadata.get("kernelspec"), "cells": cells}, sort_keys=True, indent=1)


def same_notebook(left: Path | nbformat.NotebookNode, right: Path | nbformat.NotebookNode) -> bool:
    def read(item: Path | nbformat.NotebookNode) -> nbformat.NotebookNode:
        return nbformat.read(item, as_version=4) if isinstance(item, Path) else item
    return normalised(read(left)) == normalised(read(right))


def committed_version(path: Path, root: Path) -> nbformat.NotebookNode | None:
    """The notebook at ``path`` as committed in git's HEAD, or None (no git, not tracked)."""
    try:
        shown = subprocess.run(["git", "show", f"HEAD:{path.relative_to(root).as_posix()}"], cwd=root,
                               capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return nbformat.reads(shown.stdout, as_version=4) if shown.returncode == 0 else None


def backup(path: Path) -> Path:
    """Copy a notebook to ``<its folder>/backups/<name>-<timestamp>.ipynb`` and return the copy."""
    folder = path.parent / BACKUPS
    folder.mkdir(exist_ok=True)
    target = folder / f"{path.stem}-{time.strftime('%Y%m%d-%H%M%S')}{path.suffix}"
    counter = 1
    while target.exists():
        target = folder / f"{path.stem}-{time.strftime('%Y%m%d-%H%M%S')}-{counter}{path.suffix}"
        counter += 1
    shutil.copy2(path, target)
    return target


@dataclass(frozen=True)
class Outcome:
    assignment: str
    action: str  # "written", "unchanged", "refused"
    backup: Path | None = None

    def describe(self) -> str:
        text = {"written": "regenerated", "unchanged": "already up to date",
                "refused": "NOT overwritten: it differs from the committed version (someone's work?); "
                           "rerun with --force to back it up and regenerate"}[self.action]
        return f"course/{self.assignment}: {text}" + (f" (backup: {self.backup})" if self.backup else "")


def student_version(assignment: str, root: Path | None = None) -> GradingWorkspace:
    """A workspace holding the freshly generated student version (``.release_folder``)."""
    workspace = GradingWorkspace(assignment, root=root)
    workspace.generate()
    return workspace


def generate(names: list[str] | None = None, *, force: bool = False, root: Path | None = None) -> list[Outcome]:
    root = root or course_root()
    names = [check_assignment(name, root) for name in names] if names else assignments(root)
    outcomes = []
    for name in names:
        workspace = student_version(name, root)
        try:
            outcomes.append(_install(name, workspace.release_folder, root / COURSE / name, root, force))
        finally:
            shutil.rmtree(workspace.directory, ignore_errors=True)
    return outcomes


def _install(name: str, release: Path, target: Path, root: Path, force: bool) -> Outcome:
    fresh = release / f"{name}.ipynb"
    current = target / f"{name}.ipynb"
    saved = None
    if current.exists():
        if same_notebook(current, fresh):
            _copy_other_files(release, target, name)
            _remember(fresh, root, name)
            return Outcome(name, "unchanged")
        committed = committed_version(current, root)
        last = root / LAST_GENERATED / f"{name}.ipynb"
        ours = (committed is not None and same_notebook(current, committed)) or (
            last.exists() and same_notebook(current, last))
        if not ours:
            if not force:
                return Outcome(name, "refused")
            saved = backup(current)
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(fresh, current)
    _remember(fresh, root, name)
    _copy_other_files(release, target, name)
    return Outcome(name, "written", saved)


def _remember(fresh: Path, root: Path, name: str) -> None:
    (root / LAST_GENERATED).mkdir(parents=True, exist_ok=True)
    shutil.copyfile(fresh, root / LAST_GENERATED / f"{name}.ipynb")


def _copy_other_files(release: Path, target: Path, name: str) -> None:
    """Data files an assignment ships next to its notebook (never a learner's own files)."""
    for item in release.rglob("*"):
        if item.is_file() and item.name != f"{name}.ipynb":
            destination = target / item.relative_to(release)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(item, destination)


def reset(assignment: str, root: Path | None = None) -> tuple[Path, Path | None]:
    """A fresh student notebook in ``course/``; the learner's one kept as a backup first.

    The fresh copy is the committed one when git has it, else a newly generated one.
    Returns (the notebook, the backup or None).
    """
    root = root or course_root()
    check_assignment(assignment, root)
    current = root / COURSE / assignment / f"{assignment}.ipynb"
    saved = backup(current) if current.exists() else None
    committed = committed_version(current, root)
    current.parent.mkdir(parents=True, exist_ok=True)
    if committed is not None:
        nbformat.write(committed, current)
    else:
        workspace = student_version(assignment, root)
        try:
            shutil.copyfile(workspace.release_folder / f"{assignment}.ipynb", current)
        finally:
            shutil.rmtree(workspace.directory, ignore_errors=True)
    if not current.exists():
        raise EoslabError(f"could not restore {current}; regenerate it with `eoslab instructor generate {assignment}`")
    return current, saved
