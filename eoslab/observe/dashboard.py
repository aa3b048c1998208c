"""A small live dashboard of client statistics: transaction state and age, producer id/epoch, lag.

What it guarantees: every ``refresh_s`` a background thread calls each watched client's ``drive``
function (statistics are only emitted while a client is polled), renders the latest snapshot of
each :class:`~eoslab.observe.stats.StatsRecorder` into an ``ipywidgets.HTML`` value, and evaluates an
alert rule over each client's history; alerts are shown in red and kept in :attr:`alerts_seen`.
The thread only sets widget values (never ``with out:``), and :meth:`close` stops it (idempotent).

Assumptions: the ``drive`` functions are not called from any other thread while the dashboard runs
(a consumer must only be polled by one thread). Without a front end (nbval, nbgrader) nothing is
drawn, but :meth:`text` gives the same figures as plain text.

Views that stay true: the panel is labelled *live* (with its refresh interval) while the thread runs,
and *stopped at HH:MM:SS* once :meth:`close` stopped it, with the alerts seen while it ran (not "no
alerts" next to a cell that showed one fire). :meth:`snapshot_of` returns a picture of one step that
never changes, for text that describes that step.

What it does not cover: storing metrics (a real deployment ships them to Prometheus or similar)
or paging anyone.
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .stats import StatsRecorder, StatsSnapshot

AlertRule = Callable[[Sequence[StatsSnapshot]], list[str]]


def open_too_long(limit_s: float) -> AlertRule:
    """The dashboard's built-in rule: a transaction open for more than ``limit_s`` seconds."""
    def rule(snapshots: Sequence[StatsSnapshot]) -> list[str]:
        latest = snapshots[-1] if snapshots else None
        if latest is not None and latest.is_transaction_open and (latest.txn_state_age_s or 0) > limit_s:
            return [f"transaction open longer than {limit_s:g} s"]  # stable text: one alert, not one per refresh
        return []
    return rule


@dataclass
class _Watched:
    name: str
    recorder: StatsRecorder
    drive: Callable[[], Any] | None


class StatsDashboard:
    """One HTML panel per watched client, refreshed by a background thread."""

    def __init__(self, rule: AlertRule | None = None, refresh_s: float = 0.25, title: str = "Client statistics") -> None:
        import ipywidgets as widgets

        self.rule: AlertRule = rule or open_too_long(5.0)
        self.refresh_s = refresh_s
        self.alerts_seen: list[tuple[str, str]] = []  # (client name, alert) in order of first appearance
        self._watched: list[_Watched] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.title = title
        self._title = widgets.HTML(self._heading("not started yet: start() begins the refresh"))
        self._panel = widgets.HTML("<i>waiting for statistics…</i>")
        self._alerts = widgets.HTML("")
        self._box = widgets.VBox([self._title, self._panel, self._alerts])

    def _heading(self, state: str, live: bool = False) -> str:
        colour = "background:#2e7d32;color:#fff" if live else "background:#eceff1;color:#37474f"
        return (f"<b>{html.escape(self.title)}</b> <span style='{colour};border-radius:3px;padding:0 5px;"
                f"font-size:11px'>{html.escape(state)}</span>")

    # ---- set-up ---------------------------------------------------------------------------------

    def watch(self, name: str, recorder: StatsRecorder, drive: Callable[[], Any] | None = None) -> StatsDashboard:
        """Show ``recorder``'s snapshots as ``name``; ``drive()`` polls the client each refresh."""
        with self._lock:
            self._watched.append(_Watched(name, recorder, drive))
        return self

    def start(self) -> StatsDashboard:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="eoslab-stats-dashboard", daemon=True)
            self._thread.start()
            self._title.value = self._heading(f"● live · every {self.refresh_s:g} s", live=True)
        return self

    def close(self) -> None:
        """Stop the refresh thread (waits at most a few seconds). Safe to call twice."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
            self._title.value = self._heading(f"stopped at {time.strftime('%H:%M:%S')}: the last figures it saw")
            self._alerts.value = self._alerts_seen_html()

    def _alerts_seen_html(self) -> str:
        if not self.alerts_seen:
            return "<div style='color:#070'>no alerts while it ran</div>"
        return "<div>alerts seen while it ran:</div>" + "".join(
            f"<div style='color:#b00'>⚠ {html.escape(name)}: {html.escape(alert)}</div>" for name, alert in self.alerts_seen)

    def snapshot_of(self, step: str) -> Any:
        """A picture of the dashboard now that never changes, labelled ``step`` (with the alerts seen
        so far); the cell's last expression shows it. The live panel is not changed."""
        from IPython.display import HTML

        badge = (f"<span style='background:#eceff1;color:#37474f;border:1px solid #90a4ae;border-radius:3px;"
                 f"padding:0 5px;font-size:11px'>snapshot · {html.escape(step)} · {time.strftime('%H:%M:%S')}</span>")
        return HTML(f"<div><b>{html.escape(self.title)}</b> {badge}</div>{self._panel.value}{self._alerts_seen_html()}")

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self._box)

    # ---- the loop ------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.refresh()
            except Exception as error:  # noqa: BLE001 - a dashboard must not die silently
                self._alerts.value = f"<span style='color:#b00'>dashboard error: {html.escape(str(error))}</span>"
            self._stop.wait(self.refresh_s)

    def refresh(self) -> None:
        """Drive every client once, render, evaluate the rule (the thread calls this)."""
        with self._lock:
            watched = list(self._watched)
        for item in watched:
            if item.drive is not None:
                item.drive()
        self._panel.value = "".join(_render(item.name, item.recorder.latest) for item in watched)
        current: list[str] = []
        for item in watched:
            for alert in self.rule(item.recorder.history()):
                current.append(f"{item.name}: {alert}")
                if (item.name, alert) not in self.alerts_seen:
                    self.alerts_seen.append((item.name, alert))
        self._alerts.value = "".join(f"<div style='color:#b00'>⚠ {html.escape(line)}</div>" for line in current) \
            or "<div style='color:#070'>no alerts</div>"

    # ---- plain text ----------------------------------------------------------------------------

    def text(self) -> str:
        """The same figures as the panel, as lines of text (for logs and headless runs)."""
        with self._lock:
            watched = list(self._watched)
        lines = []
        for item in watched:
            snapshot = item.recorder.latest
            lines.append(f"{item.name}: " + ("no statistics yet" if snapshot is None else _describe(snapshot)))
        return "\n".join(lines)


def _describe(snapshot: StatsSnapshot) -> str:
    if snapshot.client_type == "producer":
        if snapshot.idempotence_state is None:
            return f"producer without idempotence, {snapshot.messages_in_flight} in flight"
        text = f"producer id {snapshot.producer_id}, epoch {snapshot.producer_epoch}"
        if snapshot.txn_state is not None:
            text += f", {snapshot.txn_state} for {snapshot.txn_state_age_s or 0:.1f} s"
        return text + f", {snapshot.messages_in_flight} in flight"
    parts = []
    for partition in snapshot.partitions:
        parts.append(f"{partition.topic}[{partition.partition}] HW {partition.high_watermark} "
                     f"LSO {partition.last_stable_offset} committed {partition.committed_offset} "
                     f"lag(LSO) {partition.lag_against_lso} lag(HW) {partition.lag_against_high_watermark}")
    return "; ".join(parts) or "consumer with no partitions yet"


def _render(name: str, snapshot: StatsSnapshot | None) -> str:
    title = f"<div style='margin-top:4px'><b>{html.escape(name)}</b></div>"
    if snapshot is None:
        return title + "<div><i>no statistics yet (is the client polled?)</i></div>"
    if snapshot.client_type == "producer":
        rows = [("producer id", snapshot.producer_id), ("epoch", snapshot.producer_epoch),
                ("id assignments", snapshot.producer_id_assignments),
                ("idempotence", snapshot.idempotence_state or "off"),
                ("transaction", snapshot.txn_state or "—"),
                ("in that state for", f"{snapshot.txn_state_age_s or 0:.1f} s" if snapshot.txn_state else "—"),
                ("messages in flight", snapshot.messages_in_flight)]
        cells = "".join(f"<tr><td style='padding-right:1em'>{label}</td><td><code>{html.escape(str(value))}</code></td></tr>"
                        for label, value in rows)
        return title + f"<table>{cells}</table>"
    header = "<tr><th>partition</th><th>high watermark</th><th>LSO</th><th>committed</th>" \
             "<th>lag vs LSO</th><th>lag vs HW</th></tr>"
    body = "".join(
        f"<tr><td>{html.escape(p.topic)}[{p.partition}]</td><td>{p.high_watermark}</td><td>{p.last_stable_offset}</td>"
        f"<td>{p.committed_offset}</td><td><b>{p.lag_against_lso}</b></td><td>{p.lag_against_high_watermark}</td></tr>"
        for p in snapshot.partitions)
    return title + f"<table>{header}{body}</table>"


def wait_until(condition: Callable[[], bool], timeout_s: float, interval_s: float = 0.05) -> bool:
    """Poll ``condition`` until true or the deadline passes; returns whether it became true."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval_s)
    return condition()
