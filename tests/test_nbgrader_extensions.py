"""nbgrader's JupyterLab tools are installed and switched per role by scripts/setup-nbgrader-extensions.sh.

Learners get the assignment list and Validate; the formgrader and Create Assignment are disabled and
locked; nbgrader_config.py is hidden from their file browser (the Assignment List reads it from disk).
Instructors get everything. Both get the contents manager that opens notebooks clean. The script runs at user level into a temporary
JUPYTER_CONFIG_DIR so the test never changes the shared environment.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
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
    view = json.loads((Path(jupyter_env["JUPYTER_CONFIG_DIR"]) / "jupyter_server_config.json").read_text())
    assert view["ServerApp"]["contents_manager_class"] == "eoslab.grading.contents.CourseContentsManager"
    assert "nbgrader_config.py" in view["ContentsManager"]["hide_globs"]


@pytest.fixture
def overlay_environment(tmp_path: Path, jupyter_env: dict[str, str]) -> tuple[Path, dict[str, str]]:
    """A throwaway environment that imports the course's packages but has its own sys.prefix.

    The course's own .venv is set up for learners (plugins locked at --sys-prefix, which no user-level
    setting can override), so the instructor role is tested where an instructor would run it: in an
    environment of its own. Building a real one means installing everything again; instead a bare
    venv sees the course's site-packages through a .pth file and gets copies of the jupyter commands.
    """
    overlay = tmp_path / "instructor-env"
    subprocess.run([sys.base_prefix + "/bin/python3", "-m", "venv", "--without-pip", str(overlay)], check=True,
                   timeout=120)
    site_packages = next((overlay / "lib").glob("python3*/site-packages"))
    course_site = next((REPO / ".venv" / "lib").glob("python3*/site-packages"))
    (site_packages / "course-packages.pth").write_text(f"{course_site}\n")
    for command in ("jupyter", "jupyter-labextension", "jupyter-server"):
        script = (REPO / ".venv" / "bin" / command).read_text().split("\n", 1)[1]
        target = overlay / "bin" / command
        target.write_text(f"#!{overlay}/bin/python3\n{script}")
        target.chmod(0o755)
    env = {**jupyter_env, "VENV": str(overlay), "EOSLAB_JUPYTER_LEVEL": "sys_prefix",
           # lab extensions themselves are found in the course's data dir
           "JUPYTER_PATH": str(REPO / ".venv" / "share" / "jupyter")}
    return overlay, env


def test_instructor_role_has_everything(overlay_environment: tuple[Path, dict[str, str]]) -> None:
    overlay, env = overlay_environment
    jupyter = str(overlay / "bin" / "jupyter")
    _run(str(SCRIPT), "learner", env=env)
    _run(str(SCRIPT), "instructor", env=env)  # switching back must unlock and re-enable
    locked = json.loads((overlay / "etc" / "jupyter" / "labconfig" / "page_config.json").read_text())
    assert not any(locked.get("lockedExtensions", {}).values()), locked
    jupyter_env = env
    listing = _run(jupyter, "labextension", "list", env=jupyter_env)
    assert re.search(r"@jupyter/nbgrader v0\.9\.6 enabled OK", listing), listing
    assert "@jupyter/nbgrader:" not in listing.split("Disabled extensions:")[-1] or "Disabled extensions:" not in listing
    server = _run(jupyter, "server", "extension", "list", env=jupyter_env)
    for extension in ("formgrader", "assignment_list", "validate_assignment", "course_list"):
        assert re.search(rf"nbgrader\.server_extensions\.{extension} enabled", server), server
    view = json.loads((overlay / "etc" / "jupyter" / "jupyter_server_config.json").read_text())
    assert "hide_globs" not in view["ContentsManager"], "instructors see nbgrader_config.py"
    assert not (overlay / "share" / "jupyter" / "lab" / "settings" / "overrides.d" / "eoslab-learner.json").exists()
