"""The learner's progress as a live table: per assignment done or not, score, when last graded, feedback.

:class:`ProgressTable` reads the attempts every grading run records (:mod:`eoslab.grading.progress`:
``eoslab grade``, the grade button, ``!eoslab grade`` in a cell) and the map of assignments
(:func:`eoslab.grading.coursemap.course_map`). It redraws by itself when the progress file changes:
a background thread looks at the file's modification time every :data:`WATCH_S` seconds (a
``stat``, nothing more) and only sets widget values; *Refresh* redraws at once. ``close()`` stops
the thread and is idempotent.

The table is HTML output inside an ``Output`` widget, so JupyterLab renders it with the notebook's
own renderer and its relative links (to each notebook, and to each feedback page under
``course/NN-slug/feedback/``) open inside JupyterLab. Links are relative to ``course/``, where the
start page lives; pass ``link_prefix="../"`` to show the table from an assignment's folder.

Guarantees: a missing or broken progress file shows "not graded yet" everywhere (it never raises);
the thread never outlives ``close()``. Not covered: progress of other learners (one learner per
state directory).
"""

from __future__ import annotations

import html
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import ipywidgets as widgets

WATCH_S = 1.0


def _local_time(iso: str) -> str:
    try:
        moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    return moment.astimezone().strftime("%d %b %H:%M")


def _points(value: float) -> str:
    return f"{value:g}"


class ProgressTable:
    """One row per assignment: status, score, last graded, feedback; redrawn when a grade lands."""

    def __init__(self, *, link_prefix: str = "", watch: bool = True, root: Path | None = None) -> None:
        self.link_prefix = link_prefix
        self._root = root
        self.table = widgets.Output()
        self.summary = widgets.HTML()
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh",
                                             layout=widgets.Layout(width="auto"))
        self.refresh_button.on_click(lambda _button: self.refresh())
        header = widgets.HTML("<b>Your progress</b> · <span style='color:#2e7d32'>● live</span>: "
                              "updates by itself after each grade")
        self._box = widgets.VBox([widgets.HBox([header, self.refresh_button]), self.summary, self.table])
        self._closed = False
        self._stop = threading.Event()
        self._seen: tuple[float, int] | None = None
        self.refresh()
        self._thread: threading.Thread | None = None
        if watch:
            self._thread = threading.Thread(target=self._watch, name="progress-table", daemon=True)
            self._thread.start()

    # ---- data ---------------------------------------------------------------------------------

    def rows(self) -> list[dict[str, Any]]:
        """What the table shows, as data: one dict per assignment (for tests and ``text()``)."""
        from ..grading.progress import progress_rows

        return progress_rows(self._root)

    def text(self) -> str:
        """The table as plain lines (headless runs, logs)."""
        lines = []
        for row in self.rows():
            score = "" if row["score"] is None else f" {_points(row['score'])} / {_points(row['max_score'])}"
            lines.append(f"{row['label']}: {row['status']}{score}")
        return "\n".join(lines)

    # ---- drawing ------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Read the progress file and redraw now."""
        rows = self.rows()
        done = sum(row["status"] == "done" for row in rows)
        graded = sum(row["status"] != "not graded yet" for row in rows)
        self.summary.value = (f"<span data-eoslab='progress-summary'>{done} of {len(rows)} assignments done, "
                              f"{graded} graded at least once</span>")
        self.table.outputs = ({"output_type": "display_data", "metadata": {},
                               "data": {"text/html": self._html(rows), "text/plain": self.text()}},)

    def _html(self, rows: list[dict[str, Any]]) -> str:
        body = []
        for row in rows:
            link = html.escape(self.link_prefix + row["notebook"])
            if row["score"] is None:
                score, when, feedback = "—", "—", "—"
            else:
                score = f"{_points(row['score'])} / {_points(row['max_score'])}"
                when = html.escape(_local_time(row["graded_at"]))
                feedback = (f"<a href='{html.escape(self.link_prefix + row['feedback'])}'>feedback</a>"
                            if row["feedback"] else "—")
            status = {"done": "<span style='color:#2e7d32'>✓ done</span>",
                      "in progress": "<span style='color:#b26a00'>in progress</span>",
                      "not graded yet": "<span style='color:#777'>not graded yet</span>"}[row["status"]]
            body.append(f"<tr data-assignment='{html.escape(row['assignment'])}'><td><a href='{link}'>"
                        f"{html.escape(row['label'])}</a></td><td>{status}</td><td class='score'>{score}</td>"
                        f"<td>{when}</td><td>{feedback}</td></tr>")
        style = "<style>.eoslab-progress th,.eoslab-progress td{text-align:left !important;padding-right:1em}</style>"
        return (style + "<table class='eoslab-progress'><thead><tr><th>assignment</th><th>status</th><th>score</th>"
                "<th>last graded</th><th>feedback</th></tr></thead><tbody>" + "".join(body) + "</tbody></table>")

    # ---- the watcher --------------------------------------------------------------------------

    def _stamp(self) -> tuple[float, int] | None:
        from ..grading.progress import progress_file

        try:
            status = progress_file().stat()
        except OSError:
            return None
        return (status.st_mtime, status.st_size)

    def _watch(self) -> None:
        self._seen = self._stamp()
        while not self._stop.wait(WATCH_S):
            try:
                stamp = self._stamp()
                if stamp != self._seen:
                    self._seen = stamp
                    self.refresh()
            except Exception as error:  # noqa: BLE001 - a watcher must not die silently; say why instead
                self.summary.value = f"progress: {html.escape(str(error))}"

    # ---- display and clean-up -----------------------------------------------------------------

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self._box)

    def close(self) -> None:
        """Stop the watcher thread and close the widgets. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self._box.close()
