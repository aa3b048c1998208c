"""Start JupyterLab on a free loopback port with a token, wait until it answers, stop it.

Used by the browser tests and the README set-up test; usable from a script too::

    with start_lab(Path("course-copy"), home=Path("/tmp/lab-home")) as lab:
        print(lab.url_for("lab/tree/00-orientation/00-orientation.ipynb"))

Guarantees: the server listens on 127.0.0.1 only, with a random token; its user-level Jupyter
configuration, data, runtime, settings and workspace directories live under ``home``, so it never
reads or writes the learner's ``~/.jupyter`` (extensions and kernels installed in the Python
environment's prefix, such as nbgrader's, are still loaded); every wait has a deadline; ``stop()``
sends SIGTERM to the server's process group and SIGKILL after a bound, so kernels it started go too.

Assumptions: JupyterLab is installed in the environment of ``python`` (default: this interpreter).
Not covered: remote access, HTTPS, several users.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..broker.netutil import free_port
from ..broker.settings import LOOPBACK
from ..errors import EoslabError


def isolated_jupyter_env(home: Path) -> dict[str, str]:
    """Environment variables that give Jupyter its own user-level directories under ``home``."""
    dirs = {
        "JUPYTER_CONFIG_DIR": home / "config",
        "JUPYTER_DATA_DIR": home / "data",
        "JUPYTER_RUNTIME_DIR": home / "runtime",
        # JupyterLab's user settings and workspaces, else read from ~/.jupyter/lab.
        "JUPYTERLAB_SETTINGS_DIR": home / "config" / "lab" / "user-settings",
        "JUPYTERLAB_WORKSPACES_DIR": home / "config" / "lab" / "workspaces",
    }
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    return {name: str(path) for name, path in dirs.items()}


def write_lab_settings(home: Path, settings: Mapping[str, Mapping[str, object]]) -> None:
    """Write JupyterLab user settings, e.g. ``{"@jupyterlab/notebook-extension:tracker": {...}}``."""
    settings_dir = Path(isolated_jupyter_env(home)["JUPYTERLAB_SETTINGS_DIR"])
    for plugin_id, values in settings.items():
        package, plugin = plugin_id.split(":")
        target = settings_dir / package / f"{plugin}.jupyterlab-settings"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(values, indent=2))


def lab_answers(base_url: str, token: str, timeout_s: float = 2.0) -> bool:
    """True when ``/api/status`` returns 200 for ``token`` within ``timeout_s``."""
    request = urllib.request.Request(f"{base_url}/api/status", headers={"Authorization": f"token {token}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def wait_until_answers(base_url: str, token: str, timeout_s: float,
                       process: subprocess.Popen[bytes] | None = None, poll_s: float = 0.5) -> bool:
    """Poll ``/api/status`` until it answers or the deadline passes; stop early if ``process`` exits."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if lab_answers(base_url, token):
            return True
        if process is not None and process.poll() is not None:
            return False
        time.sleep(poll_s)  # a poll interval, not synchronisation: the loop re-checks the condition
    return False


def stop_process_group(process: subprocess.Popen[bytes], grace_s: float = 15.0) -> int | None:
    """SIGTERM the process group of ``process`` (started with start_new_session), SIGKILL after ``grace_s``."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            pass
    # Kernels and other children share the group; whatever outlived the leader is killed too.
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        return process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        return None


@dataclass
class LabServer:
    """A running JupyterLab: where it listens, its token, its process and log."""

    root_dir: Path
    port: int
    token: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def url_for(self, path: str = "lab") -> str:
        """A browser URL for ``path`` (e.g. ``lab/tree/x.ipynb``) that logs in with the token."""
        separator = "&" if "?" in path else "?"
        return f"{self.base_url}/{path.lstrip('/')}{separator}token={self.token}"

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, grace_s: float = 15.0) -> None:
        stop_process_group(self.process, grace_s)


def launch_lab(root_dir: Path, home: Path, *, port: int | None = None, token: str | None = None,
               env: Mapping[str, str] | None = None, extra_args: Sequence[str] = (),
               python: str = sys.executable, timeout_s: float = 90.0) -> LabServer:
    """Start JupyterLab on ``root_dir`` and return once ``/api/status`` answers.

    Raises EoslabError (with the end of the server's log) when it exits or does not answer in time;
    the process is stopped in that case.
    """
    port = port or free_port()
    token = token or secrets.token_hex(24)
    log_path = home / "jupyter-lab.log"
    home.mkdir(parents=True, exist_ok=True)
    server_env = {**os.environ, **(env or {}), **isolated_jupyter_env(home)}
    # Kernels find `eoslab` and `jupyter` on PATH as they would after `./dev lab`.
    server_env["PATH"] = f"{Path(python).parent}{os.pathsep}{server_env.get('PATH', '')}"
    command = [
        python, "-m", "jupyterlab",
        f"--ServerApp.root_dir={root_dir}",
        f"--ServerApp.ip={LOOPBACK}",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",  # fail loudly instead of silently moving to another port
        f"--IdentityProvider.token={token}",
        "--no-browser",
        "--ServerApp.open_browser=False",
        *(["--allow-root"] if os.geteuid() == 0 else []),  # CI containers run as root; Jupyter refuses without it
        *extra_args,
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=root_dir, env=server_env, stdout=log,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
    lab = LabServer(root_dir=root_dir, port=port, token=token, process=process, log_path=log_path)
    if not wait_until_answers(lab.base_url, token, timeout_s, process):
        exited = process.poll()
        lab.stop()
        state = f"exited with {exited}" if exited is not None else f"did not answer within {timeout_s:.0f} s"
        raise EoslabError(f"JupyterLab on port {port} {state}; its log ends:\n{lab.log_tail()}")
    return lab


@contextmanager
def start_lab(root_dir: Path, home: Path, **options: object) -> Iterator[LabServer]:
    """``launch_lab`` as a context manager that always stops the server."""
    lab = launch_lab(root_dir, home, **options)  # type: ignore[arg-type]
    try:
        yield lab
    finally:
        lab.stop()
