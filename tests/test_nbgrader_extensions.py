"""nbgrader's JupyterLab tools are installed and switched per role by scripts/setup-nbgrader-extensions.sh.

Learners get the assignment list and Validate; the formgrader and Create Assignment are disabled and
locked. Instructors get everything. The script runs at user level into a temporary
JUPYTER_CONFIG_DIR so the test never changes the shared environment.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "setup-nbgrader-extensions.sh"
JUPYTER = REPO / ".venv" / "bin" / "jupyter"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
STAFF_PLUGINS = ["@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment"]


def _run(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run(list(args), capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return ANSI.sub("", done.stdout + done.stderr)


@pytest.fixture
def jupyter_env(tmp_path: Path) -> dict[str, str]:
    if not JUPYTER.exists():
        pytest.skip("needs the course's .venv")
    return {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path), "EOSLAB_JUPYTER_LEVEL": "user",
            "VENV": str(REPO / ".venv")}


def test_learner_role_has_assignment_list_and_validate_but_no_formgrader(jupyter_env: dict[str, str]) -> None:
    _run(str(SCRIPT), "learner", env=jupyter_env)
    listing = _run(str(JUPYTER), "labextension", "list", env=jupyter_env)
    assert re.search(r"@jupyter/nbgrader v0\.9\.6 enabled OK", listing), listing
    disabled = listing.split("Disabled extensions:")[1] if "Disabled extensions:" in listing else ""
    for plugin in STAFF_PLUGINS:
        assert plugin in disabled, f"{plugin} should be disabled for learners:\n{listing}"
        assert plugin in listing.split("locked)")[0], f"{plugin} should be locked for learners:\n{listing}"
    for plugin in ("@jupyter/nbgrader:assignment-list", "@jupyter/nbgrader:validate-assignment"):
        assert plugin not in disabled, listing
    server = _run(str(JUPYTER), "server", "extension", "list", env=jupyter_env)
    mine = server.split(f"Config dir: {jupyter_env['JUPYTER_CONFIG_DIR']}")[1].split("Config dir:")[0]
    assert re.search(r"nbgrader\.server_extensions\.formgrader disabled", mine), server
    for extension in ("assignment_list", "validate_assignment"):
        assert re.search(rf"nbgrader\.server_extensions\.{extension} enabled", mine), server


def test_instructor_role_has_everything(jupyter_env: dict[str, str]) -> None:
    environment_level = REPO / ".venv" / "etc" / "jupyter" / "labconfig" / "page_config.json"
    if environment_level.exists() and json.loads(environment_level.read_text()).get("lockedExtensions"):
        pytest.skip("this environment is set up for learners (plugins locked at --sys-prefix, which a user-level "
                    "setting cannot override); an instructor environment runs the script with the instructor role")
    _run(str(SCRIPT), "learner", env=jupyter_env)
    _run(str(SCRIPT), "instructor", env=jupyter_env)  # switching back must unlock and re-enable
    listing = _run(str(JUPYTER), "labextension", "list", env=jupyter_env)
    assert re.search(r"@jupyter/nbgrader v0\.9\.6 enabled OK", listing), listing
    assert "@jupyter/nbgrader:" not in listing.split("Disabled extensions:")[-1] or "Disabled extensions:" not in listing
    server = _run(str(JUPYTER), "server", "extension", "list", env=jupyter_env)
    for extension in ("formgrader", "assignment_list", "validate_assignment", "course_list"):
        assert re.search(rf"nbgrader\.server_extensions\.{extension} enabled", server), server
