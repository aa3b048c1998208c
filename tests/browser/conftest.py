"""Browser fixtures: JupyterLab on a copy of course/, driven by Debian's Chromium through Playwright.

- ``lab``: one JupyterLab for the session (loopback, free port, random token) on a temporary copy
  of ``course/`` inside a copy of the course root (``nbgrader_config.py`` and ``solutions/`` beside
  it, ``EOSLAB_COURSE_ROOT`` pointing there), so running and grading notebooks never touches the
  committed ones; it opens on the start page as ``./dev lab`` does (the same ``default_url``), keeps
  the learner's progress in a temporary file (``progress_file``), and has the session broker's
  environment, so kernels use the test broker; its user-level Jupyter directories are
  temporary too, while what is installed in the environment loads as for a learner: nbgrader's
  tools as ``scripts/setup-nbgrader-extensions.sh learner`` set them up in the venv (``./dev lab``
  and ``./dev test`` run it; it takes over a minute, too long to repeat per test session).
- ``browser``: headless Chromium (``/usr/bin/chromium`` or ``EOSLAB_CHROMIUM``); Playwright's own
  browser download is not used. Missing Chromium skips these tests with the command to install it.
- ``page``: a fresh browser context per test, at a laptop's screen size; on failure it saves a
  screenshot; afterwards it shuts down the kernels the test started.
- ``shoot``: ``shoot(page, "step")`` saves ``artifacts/browser/<test>/<NN>-<step>.png``.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from eoslab.grading.labserver import LabServer, launch_lab, write_lab_settings

if TYPE_CHECKING:  # Playwright may be missing; the fixtures then skip
    from playwright.sync_api import Browser, Page

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "artifacts" / "browser"
LAPTOP_SCREEN = {"width": 1366, "height": 768}
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI containers run as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-dev-shm-usage",  # containers often have a 64 MB /dev/shm; Chromium crashes on it
    # No traffic of its own: without these Chromium keeps trying Google's services on a closed network.
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LAB_SETTINGS = {
    # Every cell stays in the DOM, so waits and checks see the whole notebook.
    "@jupyterlab/notebook-extension:tracker": {"windowingMode": "none"},
    # The news pop-up is off through the environment's settings, as for a learner
    # (scripts/setup-nbgrader-extensions.sh); tests/browser/test_start_page.py checks it stays off.
}


def chromium_executable() -> str | None:
    configured = os.environ.get("EOSLAB_CHROMIUM")
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def chromium() -> str:
    executable = chromium_executable()
    if executable is None:
        pytest.skip("Chromium is not installed: apt-get install chromium (./dev test does it), "
                    "or set EOSLAB_CHROMIUM=/path/to/chromium")
    return executable


@pytest.fixture(scope="session")
def course_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A throwaway copy of course/ for the browser to run, in a copy of the course root (so grading
    from the page grades this copy, in this copy)."""
    root = tmp_path_factory.mktemp("browser")
    ignore = shutil.ignore_patterns(".ipynb_checkpoints", "*.bak*", "backups", "feedback")
    shutil.copytree(REPO / "course", root / "course", ignore=ignore)
    shutil.copytree(REPO / "solutions", root / "solutions", ignore=ignore)
    shutil.copy(REPO / "nbgrader_config.py", root)
    return root / "course"


def dev_lab_default_url() -> str:
    """The page ``./dev lab`` opens first (its ``--LabApp.default_url``), so the tests open the same."""
    found = re.search(r"--LabApp\.default_url=(\S+)", (REPO / "dev").read_text())
    assert found, "./dev lab no longer sets --LabApp.default_url: where does JupyterLab open?"
    return found.group(1)


@pytest.fixture(scope="session")
def progress_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The learner's progress file for the session's JupyterLab (never the real learner's)."""
    return tmp_path_factory.mktemp("progress") / "progress.json"


@pytest.fixture(scope="session")
def lab(chromium: str, kafka_bootstrap: str, course_copy: Path, progress_file: Path,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    home = tmp_path_factory.mktemp("jupyter-home")
    write_lab_settings(home, LAB_SETTINGS)
    # os.environ carries the session broker's KAFKA_BOOTSTRAP_SERVERS / EOSLAB_* (tests/conftest.py).
    env = {"EOSLAB_COURSE_ROOT": str(course_copy.parent), "EOSLAB_PROGRESS_FILE": str(progress_file)}
    server = launch_lab(course_copy, home, env=env, timeout_s=120,
                        extra_args=[f"--LabApp.default_url={dev_lab_default_url()}"])
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def browser(chromium: str) -> Iterator[Browser]:
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is missing: ./dev test installs it")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def _artifact_dir(request: pytest.FixtureRequest) -> Path:
    folder = ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    setattr(item, f"report_{report.when}", report)  # the page fixture screenshots failed tests
    return report


@pytest.fixture
def page(browser: Browser, lab: LabServer, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(viewport=LAPTOP_SCREEN)
    context.set_default_timeout(30_000)
    opened = context.new_page()
    try:
        yield opened
    finally:
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            opened.screenshot(path=str(_artifact_dir(request) / "failed.png"), full_page=True)
        context.close()
        from jupyterlab_page import close_all_sessions  # tests/browser is on sys.path for its tests

        close_all_sessions(lab)


@pytest.fixture
def shoot(request: pytest.FixtureRequest) -> Callable[[Page, str], Path]:
    folder = _artifact_dir(request)
    for old in folder.glob("*.png"):
        old.unlink()
    taken: list[Path] = []

    def take(page: Page, step: str) -> Path:
        path = folder / f"{len(taken) + 1:02d}-{step}.png"
        page.screenshot(path=str(path))
        taken.append(path)
        return path

    return take
