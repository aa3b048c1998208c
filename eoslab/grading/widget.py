"""``GradeButton("NN-slug")``: grade the saved notebook from inside it, one click.

The button runs ``eoslab grade`` in a child process (the learner's kernel state never leaks into
grading, and a hung grade cannot freeze the kernel) from a background thread, so the notebook stays
usable; the thread appends the output to the widget instead of printing (in JupyterLab a thread's
print goes nowhere). It grades the file on disk: save first. One grading run at a time.

After a run the output shows the score table with the reasons, and a link to the feedback page
(``feedback/NN-slug.html`` beside the notebook, the path ``eoslab grade`` prints relative to the
kernel's directory, which is the notebook's): JupyterLab opens a relative link in a tab of its own.
Errors (``eoslab: error: …``) are shown; the command's other stderr is not.
"""

from __future__ import annotations

import html
import subprocess
import sys
import threading
from pathlib import Path

import ipywidgets as widgets
from IPython.display import HTML, display

FEEDBACK_PREFIX = "feedback: "

GRADE_DEADLINE_S = 900  # the notebook runs with its hidden tests (demo cells skipped); each cell has its own limit too


class GradeButton:
    def __init__(self, assignment: str, notebook: str | Path | None = None) -> None:
        self.assignment = assignment
        self.notebook = notebook
        self._button = widgets.Button(description="Grade my saved notebook", icon="check", button_style="primary",
                                      layout=widgets.Layout(width="auto"))
        self._output = widgets.Output(layout=widgets.Layout(border="1px solid #ddd", padding="4px"))
        self._worker: threading.Thread | None = None
        self._button.on_click(self.on_grade_clicked)
        self._box = widgets.VBox([widgets.HTML(f"<b>{assignment}</b>: save (Ctrl-S), then grade. "
                                               "Your notebook is copied, never changed."),
                                  self._button, self._output])

    def _ipython_display_(self) -> None:
        display(self._box)

    def on_grade_clicked(self, _button: widgets.Button) -> None:
        if self._worker is not None and self._worker.is_alive():
            return  # a run is in progress; its output is still arriving
        self._output.clear_output()
        self._button.disabled = True
        self._worker = threading.Thread(target=self._run, name=f"grade-{self.assignment}", daemon=True)
        self._worker.start()

    def command(self) -> list[str]:
        args = [sys.executable, "-m", "eoslab", "grade", self.assignment]
        return args + ([str(self.notebook)] if self.notebook else [])

    def _run(self) -> None:
        try:
            finished = subprocess.run(self.command(), capture_output=True, text=True, timeout=GRADE_DEADLINE_S)
            self._output.append_stdout(finished.stdout)
            link = feedback_link(finished.stdout)
            if link:
                self._output.append_display_data(HTML(
                    f"<a href='{html.escape(link)}' data-eoslab='feedback-link'>"
                    f"Open your feedback page</a> ({html.escape(link)}): each check, its points and why"))
            errors = [line for line in finished.stderr.splitlines() if line.startswith("eoslab: error")]
            if errors:
                self._output.append_stdout("\n".join(errors) + "\n")
        except subprocess.TimeoutExpired:
            self._output.append_stdout(f"grading took longer than {GRADE_DEADLINE_S} s and was stopped\n")
        finally:
            self._button.disabled = False

    def close(self) -> None:
        self._box.close()


def feedback_link(stdout: str) -> str | None:
    """The feedback page's path from ``eoslab grade``'s output, if relative (a link JupyterLab opens)."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(FEEDBACK_PREFIX):
            path = line[len(FEEDBACK_PREFIX):].strip()
            return path if path and not Path(path).is_absolute() else None
    return None
