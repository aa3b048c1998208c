"""The class workflow of docs/instructors.md, run with nbgrader's command line in a temporary course.

Instructor (cwd = the course root, where nbgrader_config.py is): generate the assignment into the
gradebook, release it to an exchange directory. Learner (another cwd, no config): fetch, answer,
submit. Instructor: collect, autograde, generate feedback. The learner's answers are the reference
solutions, so the gradebook must show full marks, and the feedback page must exist.
"""

from __future__ import annotations

import getpass
import html
import os
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from eoslab.grading.demos import demo_sources, skipped_in
from eoslab.grading.variants import answer_cells, with_answers

REPO = Path(__file__).resolve().parent.parent
NBGRADER = REPO / ".venv" / "bin" / "nbgrader"
ASSIGNMENT = "00-orientation"
COURSE_ID = "eoslab-exactly-once"

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def _hidden_test_lines(notebook: nbformat.NotebookNode) -> list[str]:
    """Every substantial line inside a ``### BEGIN HIDDEN TESTS`` region (whitespace-normalised)
    that does not also appear outside one (a visible test may repeat a line)."""
    hidden_lines, visible_lines = [], set()
    for cell in notebook.cells:
        hidden = False
        for line in cell.source.splitlines():
            if "BEGIN HIDDEN TESTS" in line:
                hidden = True
            elif "END HIDDEN TESTS" in line:
                hidden = False
            elif len(line.strip()) >= 16:
                (hidden_lines.append if hidden else visible_lines.add)(" ".join(line.split()))
    return [line for line in hidden_lines if line not in visible_lines]


def _nbgrader(*args: str, cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run([str(NBGRADER), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done.stdout + done.stderr


def test_release_fetch_submit_collect_autograde_feedback(kafka_bootstrap: str, tmp_path: Path) -> None:
    if not NBGRADER.exists():
        pytest.skip("needs the course's .venv")
    root = tmp_path / "course-repo"
    (root / "solutions").mkdir(parents=True)
    shutil.copy(REPO / "nbgrader_config.py", root)
    shutil.copytree(REPO / "solutions" / ASSIGNMENT, root / "solutions" / ASSIGNMENT)
    exchange = tmp_path / "exchange"
    exchange.mkdir()
    exchange.chmod(0o777)  # nbgrader's exchange must be world-writable, as on a shared server
    env = {**os.environ, "EOSLAB_EXCHANGE": str(exchange),
           "PATH": f"{REPO / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}

    # Instructor: the student version into course/ and the gradebook, then out to the exchange.
    _nbgrader("generate_assignment", ASSIGNMENT, "--force", cwd=root, env=env)
    _nbgrader("release_assignment", ASSIGNMENT, cwd=root, env=env)

    # Learner: somewhere else, with no nbgrader_config.py; the exchange and cache given explicitly.
    home = tmp_path / "learner"
    home.mkdir()
    learner_options = [f"--Exchange.root={exchange}", f"--Exchange.cache={tmp_path / 'cache'}",
                       f"--course={COURSE_ID}"]
    _nbgrader("fetch_assignment", ASSIGNMENT, *learner_options, cwd=home, env=env)
    fetched = home / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    solution = nbformat.read(REPO / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    answers = {grade_id: cell.source for grade_id, cell in answer_cells(solution).items()}
    nbformat.write(with_answers(nbformat.read(fetched, as_version=4), answers), fetched)
    _nbgrader("submit", ASSIGNMENT, *learner_options, cwd=home, env=env)

    # Instructor: collect, autograde (runs the notebook against the broker), feedback.
    _nbgrader("collect", ASSIGNMENT, cwd=root, env=env)
    student = getpass.getuser()
    _nbgrader("autograde", ASSIGNMENT, cwd=root, env=env)
    _nbgrader("generate_feedback", ASSIGNMENT, cwd=root, env=env)

    autograded = root / ".nbgrader" / "autograded" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    assert skipped_in(autograded) == list(demo_sources(solution)), "a class's autograde skips the demo cells too"
    feedback = root / ".nbgrader" / "feedback" / student / ASSIGNMENT / f"{ASSIGNMENT}.html"
    assert feedback.exists(), sorted(str(path) for path in (root / ".nbgrader").rglob("*.html"))
    # The page a class releases to the learner holds no hidden test (nor a traceback quoting one).
    page = html.unescape(re.sub(r"<[^>]+>", "", feedback.read_text(encoding="utf-8")))
    page_lines = {" ".join(line.split()) for line in page.splitlines()}
    shown = [line for line in _hidden_test_lines(solution) if line in page_lines]
    assert _hidden_test_lines(solution), "the assignment has hidden tests to hide"
    assert shown == [], f"the released feedback shows hidden test lines: {shown[:5]}"
    with Gradebook(f"sqlite:///{root / '.nbgrader' / 'gradebook.db'}", course_id=COURSE_ID) as gradebook:
        submission = gradebook.find_submission(ASSIGNMENT, student)
        assert submission.max_score > 0 and submission.score == submission.max_score
