"""`./dev` finds a Python the course supports (3.11+) or says in one line what to install.

Specification: ``./dev`` tries ``python3.13``, ``python3.12``, ``python3.11`` before ``python3`` (which is
3.10 on Ubuntu 22.04); with none new enough (and no apt to install one) it stops within seconds
with one line naming what it found and what to install; ``PYTHON=`` an old interpreter is refused
the same way. The interpreters here are small fakes that answer ``--version`` and the version check
as a given release would, so the test needs no particular Python installed and never runs apt (the
PATH it gives ``./dev`` has no ``apt-get``). scripts/other-pythons.sh repeats the refusal with a
real Python 3.10 where there is one.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DEADLINE_S = 10.0


def fake_python(folder: Path, name: str, version: str) -> Path:
    """An executable that behaves like Python ``version`` for ./dev's questions, and logs its use."""
    major, minor = (int(part) for part in version.split(".")[:2])
    new_enough = (major, minor) >= (3, 11)
    script = folder / name
    script.write_text(f"""#!/bin/sh
echo "$0 $*" >> "{folder}/calls.log"
case "$1" in
  --version) echo "Python {version}" ;;
  -m) echo "fake {name}: would create the venv" >&2; exit 1 ;;
  -c) exit {0 if new_enough else 1} ;;
esac
""")
    script.chmod(0o755)
    return script


def path_without_pythons_or_apt(tmp_path: Path) -> str:
    """The system's programs minus every python and apt, so only the fakes can be found."""
    folder = tmp_path / "system-bin"
    folder.mkdir()
    for directory in ("/usr/bin", "/bin"):
        for program in Path(directory).iterdir():
            if program.name.startswith(("python", "apt", "pip")) or (folder / program.name).exists():
                continue
            (folder / program.name).symlink_to(program)
    return str(folder)


def run_dev(tmp_path: Path, fakes: Path, **env: str) -> tuple[subprocess.CompletedProcess[str], float]:
    environment = {"PATH": f"{fakes}:{path_without_pythons_or_apt(tmp_path)}", "HOME": str(tmp_path),
                   "EOSLAB_VENV": str(tmp_path / "venv"), **env}
    started = time.monotonic()
    result = subprocess.run(["./dev", "lab", "--no-browser"], cwd=REPO, env=environment, capture_output=True,
                            text=True, timeout=60)
    return result, time.monotonic() - started


@pytest.fixture
def fakes(tmp_path: Path) -> Path:
    folder = tmp_path / "fakes"
    folder.mkdir()
    return folder


def test_a_python3_that_is_3_10_is_refused_in_one_line(tmp_path: Path, fakes: Path) -> None:
    fake_python(fakes, "python3", "3.10.12")

    result, elapsed = run_dev(tmp_path, fakes)

    assert result.returncode == 1, result
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "needs Python 3.11+ and found Python 3.10.12" in lines[0]
    assert "deadsnakes" in lines[0] and "pyenv" in lines[0] and "PYTHON=" in lines[0]
    assert elapsed < DEADLINE_S
    assert not (tmp_path / "venv").exists()


def test_python3_11_is_chosen_before_an_older_python3(tmp_path: Path, fakes: Path) -> None:
    fake_python(fakes, "python3", "3.10.12")
    fake_python(fakes, "python3.11", "3.11.9")

    result, _elapsed = run_dev(tmp_path, fakes)

    calls = (fakes / "calls.log").read_text()
    assert "python3.11 -m venv" in calls and "python3 -m venv" not in calls, calls
    assert "fake python3.11: would create the venv" in result.stderr, result.stderr


def test_the_newest_is_chosen(tmp_path: Path, fakes: Path) -> None:
    for name, version in (("python3", "3.11.2"), ("python3.12", "3.12.1"), ("python3.13", "3.13.0")):
        fake_python(fakes, name, version)

    result, _elapsed = run_dev(tmp_path, fakes)

    assert "fake python3.13: would create the venv" in result.stderr, result.stderr


def test_an_old_python_named_by_python_is_refused(tmp_path: Path, fakes: Path) -> None:
    old = fake_python(fakes, "python3.10", "3.10.13")
    fake_python(fakes, "python3.11", "3.11.9")  # there, but PYTHON says otherwise

    result, elapsed = run_dev(tmp_path, fakes, PYTHON=str(old))

    assert result.returncode == 1
    assert f"PYTHON={old} is Python 3.10.13, the course needs Python 3.11+" in result.stderr, result.stderr
    assert elapsed < DEADLINE_S


def test_a_venv_made_with_an_old_python_is_named(tmp_path: Path, fakes: Path) -> None:
    fake_python(fakes, "python3.11", "3.11.9")
    venv_bin = tmp_path / "venv" / "bin"
    venv_bin.mkdir(parents=True)
    fake_python(venv_bin, "python", "3.10.13")

    result, elapsed = run_dev(tmp_path, fakes)

    assert result.returncode == 1
    assert "was made with Python 3.10.13" in result.stderr and "rm -rf" in result.stderr, result.stderr
    assert elapsed < DEADLINE_S
    assert os.path.exists(venv_bin / "python"), "./dev must not delete a venv by itself"
