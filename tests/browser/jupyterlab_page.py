"""Driving one notebook in JupyterLab 4.6 the way a learner does, and judging what it shows.

Guarantees: every wait has a deadline and fails with what the page showed instead; "run all" is
the Run menu's "Run All Cells"; the outputs are judged from the notebook as JupyterLab saved it
(File → Save), because in the page a traceback and a stderr stream look alike (both are rendered
with the mime type ``application/vnd.jupyter.stderr``), while the saved file says which is which.

What counts as an error (the policy of the browser tests):

- an ``error`` output (a traceback) anywhere is a failure;
- a code cell that did not run (Run All stops at the first error) is a failure;
- a ``stderr`` stream in a graded cell (nbgrader ``grade: true``) is a failure, because nbgrader
  scores such a cell zero — unless it is a "not done yet" note (:mod:`eoslab.lessons.unwritten`):
  a blank exercise's graded cell writes its note there on purpose, and it is reported as a note;
- a ``stderr`` stream in any other cell is tolerated (a library warning in a demo) but reported;
- stdout lines starting with "not done yet" are collected as notes too.

Assumptions: JupyterLab 4.6 with notebook windowing off (the browser conftest sets it), so every
cell is in the DOM. Not covered: the classic Notebook interface, collaborative mode.
"""

from __future__ import annotations

import base64
import json
import re
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat.reader import NotJSONError
from playwright.sync_api import Page
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from eoslab.grading.labserver import LabServer
from eoslab.lessons.unwritten import NOT_DONE_YET

# The notebook shown in the main area (others may be open in background tabs).
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"
MERMAID_FIGURE = ".jp-RenderedMermaid"  # JupyterLab 4.6 draws a diagram as <figure><img src="data:image/svg+xml,…">
MERMAID_FAILED = ".jp-RenderedMermaid.jp-mod-warning"  # shown instead when Mermaid cannot parse the diagram


@dataclass
class OutputVerdict:
    failures: list[str] = field(default_factory=list)
    tolerated: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # "not done yet": exercises the notebook leaves blank


def judge_outputs(notebook: nbformat.NotebookNode) -> OutputVerdict:
    """Apply the course's error policy (module docstring) to an executed notebook."""
    verdict = OutputVerdict()
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        grading = cell.metadata.get("nbgrader", {})
        label = f"cell {index} ({grading['grade_id']})" if grading.get("grade_id") else f"cell {index}"
        if cell.get("execution_count") is None:
            verdict.failures.append(f"{label} did not run")
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                verdict.failures.append(f"{label} raised {output.ename}: {output.evalue}")
            elif output.output_type == "stream":
                line = output.text.strip().splitlines()[0] if output.text.strip() else ""
                if line.startswith(NOT_DONE_YET):
                    verdict.notes.append(f"{label}: {line[:160]}")
                elif output.name == "stderr":
                    (verdict.failures if grading.get("grade") else verdict.tolerated).append(
                        f"{label} wrote to stderr: {line[:160]}")
    return verdict


def mermaid_blocks(notebook: nbformat.NotebookNode) -> int:
    """How many Mermaid diagrams the notebook's Markdown cells hold."""
    return sum(cell.source.count("```mermaid") for cell in notebook.cells if cell.cell_type == "markdown")


def close_all_sessions(lab: LabServer) -> None:
    """Shut down every kernel session of ``lab`` (so finished tests do not keep kernels running)."""
    headers = {"Authorization": f"token {lab.token}"}
    with urllib.request.urlopen(urllib.request.Request(f"{lab.base_url}/api/sessions", headers=headers),
                                timeout=10) as response:
        sessions = json.load(response)
    for session in sessions:
        request = urllib.request.Request(f"{lab.base_url}/api/sessions/{session['id']}", headers=headers,
                                         method="DELETE")
        urllib.request.urlopen(request, timeout=30).close()


class NotebookPage:
    """One notebook of ``lab`` open in ``page``; ``path`` is relative to the server's root_dir."""

    def __init__(self, page: Page, lab: LabServer, path: str) -> None:
        self.page = page
        self.lab = lab
        self.path = path

    @property
    def file(self) -> Path:
        return self.lab.root_dir / self.path

    def open(self, timeout_s: float = 90, wait_for_kernel: bool = True) -> None:
        """Open the notebook in a fresh workspace; wait until it is the current tab (and its kernel idle)."""
        # ?reset: no tabs restored from an earlier test's workspace.
        self.page.goto(self.lab.url_for(f"lab/tree/{urllib.parse.quote(self.path)}?reset"))
        self.wait_until_current(timeout_s, wait_for_kernel)

    @property
    def is_dirty(self) -> bool:
        """True while the current tab shows the unsaved dot."""
        return bool(self.page.evaluate("() => !!document.querySelector('.lm-TabBar-tab.jp-mod-current.jp-mod-dirty')"))

    def wait_until_current(self, timeout_s: float = 90, wait_for_kernel: bool = True) -> None:
        """Wait until this notebook is the current tab (and its kernel idle)."""
        self.page.wait_for_function(
            """([panel, name, waitForKernel]) => {
                const tab = document.querySelector('.lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current');
                const status = document.querySelector(panel + ' .jp-Notebook-ExecutionIndicator')?.dataset.status;
                return tab?.textContent.trim() === name && (status === 'idle' || !waitForKernel);
            }""", arg=[PANEL, Path(self.path).name, wait_for_kernel], timeout=timeout_s * 1000, polling=250)

    def run_all(self, timeout_s: float = 180) -> None:
        """Run → Run All Cells, then wait until no cell is queued or running and the kernel is idle.

        Once seen in CI on a loaded machine: the kernel went idle after the first code cell with every
        later prompt back at [ ] and no error anywhere, as if the queued cells were dropped. A learner
        would press Run All again; so does this, from the first cell that did not run, saying so on
        stdout (with the server's log) so that a recurrence stays visible.
        """
        deadline = time.monotonic() + timeout_s
        self._run_from_menu('li[data-command="runmenu:run-all"]', timeout_s)
        first_unrun = self.first_unrun_code_cell()
        if first_unrun is not None:
            print(f"Run All stopped before cell {first_unrun} of {self.path}; running it and all below again. "
                  f"JupyterLab's log:\n{self.lab.log_tail(15)}")
            self.select_cell(first_unrun)
            self._run_from_menu('li[data-command="notebook:run-all-below"]', max(30.0, deadline - time.monotonic()))

    def first_unrun_code_cell(self) -> int | None:
        """Save; the index (all cell types) of the first non-empty code cell that has no execution count.

        None as well when a cell raised before it: Run All stops at an error on purpose.
        """
        for index, cell in enumerate(self.save().cells):
            if cell.cell_type != "code" or not cell.source.strip():
                continue
            if any(output.output_type == "error" for output in cell.get("outputs", [])):
                return None
            if cell.get("execution_count") is None:
                return index
        return None

    def select_cell(self, index: int) -> None:
        """Select cell ``index`` (0-based, all cell types) in command mode, as a click on its prompt does."""
        self.accept_kernel_dialog()
        self.page.locator(f"{PANEL} .jp-Notebook .jp-Cell").nth(index).locator(".jp-InputPrompt").click()

    def accept_kernel_dialog(self) -> None:
        """If JupyterLab asks which kernel to start, answer as a learner would: the preferred one.

        The course's settings start it without asking (autoStartDefaultKernel); seen once in CI before
        they did, after an earlier test had shut the start page's kernel down. Said on stdout, so a
        recurrence stays visible; tests/browser/test_start_page.py asserts a fresh start asks nothing.
        """
        dialog = self.page.locator(".jp-Dialog").filter(has_text="Select Kernel")
        if dialog.count() and dialog.first.is_visible():
            print(f"JupyterLab asked for a kernel for {self.path}; accepting the preferred one")
            dialog.first.locator(".jp-Dialog-button.jp-mod-accept").click()
            dialog.first.wait_for(state="detached", timeout=10_000)

    def run_all_above(self, index: int, timeout_s: float = 180) -> None:
        """Select cell ``index`` and Run → Run All Above Selected Cell (a learner stopping at that cell)."""
        self.select_cell(index)
        self._run_from_menu('li[data-command="notebook:run-all-above"]', timeout_s)

    def run_cell(self, index: int, timeout_s: float = 60) -> None:
        """Select cell ``index`` and run it (Ctrl+Enter); wait until the kernel is idle again."""
        prompt = self.page.locator(f"{PANEL} .jp-Notebook .jp-Cell").nth(index).locator(".jp-InputPrompt")
        deadline = time.monotonic() + timeout_s
        # As with Run All (see _run_from_menu), a keypress right after the kernel turned idle can be
        # dropped: press again if the cell shows neither [*] nor [n] a while later.
        for _attempt in range(2):
            self.select_cell(index)
            self.page.keyboard.press("Control+Enter")
            pressed = time.monotonic()
            while time.monotonic() - pressed < 15 and not re.match(r"\[(\*|\d+)\]", prompt.inner_text().strip()):
                self.page.wait_for_timeout(250)  # polling interval; the loop re-checks the cell's prompt
            if re.match(r"\[(\*|\d+)\]", prompt.inner_text().strip()):
                break
        while not re.match(r"\[\d+\]", prompt.inner_text().strip()) and time.monotonic() < deadline:
            self.page.wait_for_timeout(250)  # polling interval; the loop re-checks the cell's prompt
        self._wait_until_idle(max(1.0, deadline - time.monotonic()))

    def _run_from_menu(self, menu_item: str, timeout_s: float) -> None:
        # Right after a kernel reports idle, JupyterLab can drop a Run command on the floor (seen on a
        # loaded machine: every prompt still [ ] a minute later). Give the command once more if no cell
        # started within a few seconds; a cell that did start shows [*] or [n] at once.
        for _attempt in range(2):
            self.page.get_by_role("menuitem", name="Run", exact=True).click()
            self.page.locator(menu_item).click()
            if self._execution_started(timeout_s=15):
                break
        self._wait_until_idle(timeout_s)

    def _execution_started(self, timeout_s: float) -> bool:
        try:
            self.page.wait_for_function(
                """(panel) => [...document.querySelectorAll(panel + ' .jp-CodeCell .jp-InputPrompt')]
                    .some(element => /^\\[(\\*|\\d+)\\]/.test(element.textContent.trim()))""",
                arg=PANEL, timeout=timeout_s * 1000, polling=250)
            return True
        except PlaywrightTimeoutError:
            return False

    def _wait_until_idle(self, timeout_s: float) -> None:
        # Queued cells show [*] at once; a cell that ran shows [n]; after an error the rest go back to [ ].
        self.page.wait_for_function(
            """(panel) => {
                const root = document.querySelector(panel);
                if (!root) return false;
                const status = root.querySelector('.jp-Notebook-ExecutionIndicator')?.dataset.status;
                const prompts = [...root.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
                    .map(element => element.textContent.trim());
                return status === 'idle' && !prompts.some(p => p.startsWith('[*]'))
                    && prompts.some(p => /^\\[\\d+\\]/.test(p));
            }""", arg=PANEL, timeout=timeout_s * 1000, polling=500)

    def save(self, timeout_s: float = 30) -> nbformat.NotebookNode:
        """File → Save (Ctrl+S), wait until the tab is no longer dirty, and return the saved notebook."""
        self.page.locator(f"{PANEL} .jp-Notebook").click(position={"x": 5, "y": 5})  # focus, not a cell editor
        self.page.keyboard.press("Control+s")
        self.page.wait_for_function(
            "() => !document.querySelector('.lm-TabBar-tab.jp-mod-current.jp-mod-dirty')",
            timeout=timeout_s * 1000, polling=250)
        return _read_when_whole(self.file, timeout_s)

    def mermaid_problems(self, expected: int, timeout_s: float = 30) -> list[str]:
        """Wait for ``expected`` rendered Mermaid figures; describe each one that is not an SVG image."""
        figures = self.page.locator(f"{PANEL} {MERMAID_FIGURE}")
        deadline = time.monotonic() + timeout_s
        while figures.count() < expected and time.monotonic() < deadline:
            self.page.wait_for_timeout(250)  # polling interval; the loop re-checks the count
        problems = [] if figures.count() >= expected else [f"{figures.count()} of {expected} diagrams rendered"]
        # A failed diagram shows its source in <summary> and Mermaid's parse error in the <pre> after it.
        problems += [f"a diagram does not parse: {' | '.join(text.strip().splitlines()[:3])[:300]}"
                     for text in self.page.locator(f"{PANEL} {MERMAID_FAILED} details > pre").all_text_contents()]
        for index, image in enumerate(self.page.locator(f"{PANEL} {MERMAID_FIGURE} img").all()):
            image.scroll_into_view_if_needed()
            state = image.evaluate("img => ({complete: img.complete, width: img.naturalWidth, src: img.src})")
            svg = _svg_of(state["src"])
            if not (state["complete"] and state["width"] > 0 and "<svg" in svg):
                problems.append(f"diagram {index} is not a decoded SVG image ({state['width']} px wide)")
        return problems


def _svg_of(src: str) -> str:
    """The SVG text of a ``data:image/svg+xml`` URL (URL-encoded or base64), else ''."""
    head, _, body = src.partition(",")
    if not head.startswith("data:image/svg+xml"):
        return ""
    if head.endswith(";base64"):
        return base64.b64decode(body).decode(errors="replace")
    return urllib.parse.unquote(body)


def _read_when_whole(path: Path, timeout_s: float) -> nbformat.NotebookNode:
    """Read a notebook the server may be writing at this moment.

    Jupyter Server's atomic writing keeps a backup copy and writes the file in place, so a read during
    a save (JupyterLab's autosave can start at any time) sees it empty or cut short (a CI run read '').
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return nbformat.read(path, as_version=4)
        except NotJSONError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.25)  # polling interval; the write in progress takes milliseconds
