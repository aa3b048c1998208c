"""Show one partition's log in a notebook: a snapshot of one step, or a live view with its own refresh.

A picture next to text must stay true to that text, also after Run All has moved the log on:

- a **snapshot** is drawn once and never changes. :func:`show` draws one
  (``show(read_partition(topic), step="after T3 opened")``) with a grey badge
  *snapshot · after T3 opened · read 12:03:04*; :meth:`LogView.snapshot_of` does the same for a live
  view's topic. Use a snapshot wherever the text describes the log at one step;
- a **live view** (:class:`LogView`) is labelled *live*, says when it last read the broker, and has
  its own *Refresh* button (and, with ``refresh_s``, a background refresh every ``refresh_s``
  seconds, stopped by :meth:`LogView.close`). Code never redraws it behind the learner's back:
  :meth:`LogView.refresh` is there for the button and for a cell that says "refresh the live view".

The data model, Kafka's rules for what each isolation level returns, and the drawing are in
:mod:`eoslab.observe.partition`. A drawn log (``drawn_log``) is shown with a *drawn* badge unless
``step`` names it.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from ..errors import EoslabError
from .logreader import read_partition
from .partition import PartitionSnapshot, render_html, render_text


def _clock() -> str:
    return time.strftime("%H:%M:%S")


def snapshot_badge(snapshot: PartitionSnapshot, step: str | None) -> str:
    """The label of a snapshot: what it shows and, for one read from the broker, when."""
    if snapshot.source == "drawn":
        return f"drawn · {step}" if step else "drawn"
    return f"snapshot · {step} · read {_clock()}" if step else f"snapshot · read {_clock()}"


def show(snapshot: PartitionSnapshot, *, show_views: bool = True, title: str | None = None,
         step: str | None = None) -> Any:
    """An ``IPython.display.HTML`` of the snapshot, labelled as a snapshot (of ``step``, if given)."""
    from IPython.display import HTML

    return HTML(render_html(snapshot, show_views=show_views, title=title, badge=snapshot_badge(snapshot, step)))


class LogView:
    """A live picture of one partition: reads the broker on its Refresh button (or every ``refresh_s``)."""

    def __init__(self, topic: str, partition: int = 0, *, title: str | None = None,
                 bootstrap_servers: str | None = None, refresh_s: float | None = None) -> None:
        import ipywidgets as widgets

        self.topic, self.partition, self.title = topic, partition, title
        self.refresh_s = refresh_s
        self._bootstrap_servers = bootstrap_servers
        self._picture = widgets.HTML()
        self._button = widgets.Button(description="Refresh", icon="refresh", layout=widgets.Layout(width="auto"),
                                      tooltip="Read the partition from the broker again")
        self._output = widgets.Output()
        self._button.on_click(self.on_refresh_clicked)
        self._box = widgets.VBox([self._button, self._picture, self._output])
        self.snapshot: PartitionSnapshot | None = None
        self.read_at: str | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.refresh()
        if refresh_s:
            self._thread = threading.Thread(target=self._refresh_periodically, name="log-view", daemon=True)
            self._thread.start()

    @property
    def badge(self) -> str:
        every = f", every {self.refresh_s:g} s" if self.refresh_s else ", press Refresh to read again"
        return f"● live · read {self.read_at}{every}"

    def refresh(self) -> PartitionSnapshot:
        """Read the partition again and redraw the live picture; returns the new snapshot."""
        with self._lock:
            self.snapshot = read_partition(self.topic, self.partition, bootstrap_servers=self._bootstrap_servers)
            self.read_at = _clock()
            self._picture.value = render_html(self.snapshot, title=self.title, badge=self.badge, live=True)
            return self.snapshot

    def snapshot_of(self, step: str, *, show_views: bool = True) -> Any:
        """Read the partition now and return a picture of it that stays as it is, labelled ``step``
        (the cell's last expression shows it); the live view is not changed."""
        from IPython.display import HTML

        snapshot = read_partition(self.topic, self.partition, bootstrap_servers=self._bootstrap_servers)
        title = f"{self.title} at this step" if self.title else None
        return HTML(render_html(snapshot, show_views=show_views, title=title, badge=snapshot_badge(snapshot, step)))

    def on_refresh_clicked(self, _button: Any) -> None:
        with self._output:
            self._output.clear_output()
            try:
                self.refresh()
            except EoslabError as error:
                print(error)

    def _refresh_periodically(self) -> None:
        assert self.refresh_s
        while not self._stop.wait(self.refresh_s):
            try:
                self.refresh()
            except Exception as error:  # noqa: BLE001 - a live view must not die silently; say why instead
                self._output.append_stdout(f"live view: {error}\n")

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self._box)

    def __str__(self) -> str:
        return render_text(self.snapshot) if self.snapshot else f"LogView({self.topic})"

    def close(self) -> None:
        """Stop the background refresh (if any) and close the widgets. Idempotent."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        self._box.close()
