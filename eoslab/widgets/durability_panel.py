"""A durability panel: buttons that break the three-node cluster and draw what each replica kept.

Notebook 02's panel over the demos of :mod:`eoslab.workers.durability`. Each button runs one demo
on the course's cluster in a background thread — the same fault for two settings side by side — and
adds its result on top: what the demo says happened (``describe()``) and each replica's log end and
high watermark drawn before and after the fault (:mod:`eoslab.observe.replicas`).

- *Kill the leader while its followers are behind*: ``acks=1`` against ``acks=all`` +
  ``min.insync.replicas=2`` (:func:`~eoslab.workers.compare_acks`);
- *Leave only an out-of-sync replica*: unclean leader election off against on
  (:func:`~eoslab.workers.compare_unclean_election`);
- *Kill the transaction coordinator*: transactions across its SIGKILL, read back read_committed
  (:func:`~eoslab.workers.transaction_across_coordinator_kill`).

One demo at a time (the buttons are disabled while one runs; each puts the cluster back before it
ends, every wait has a deadline). The status line shows each node — running, paused, down — while
the demo breaks them. For a cluster the course does not run (``EOSLAB_CLUSTER_BOOTSTRAP``, e.g.
docker compose), the buttons are off and the panel says why. Errors are one line in the log.
:attr:`DurabilityPanel.results` holds every result, for tests.
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

from ..broker import Cluster
from ..errors import EoslabError
from ..kafka import CLUSTER_FAULTS_UNAVAILABLE
from ..observe import render_replicas_html
from ..workers import compare_acks, compare_unclean_election, transaction_across_coordinator_kill
from .failure_panel import LOG_HEIGHT, make_button

REFRESH_S = 1.0


def _failover_html(results: tuple[Any, ...]) -> str:
    parts = []
    for result in results:
        parts.append(f"<p>{html.escape(result.describe())}</p>")  # it opens with the settings
        parts.append(render_replicas_html(result.before_kill, title=f"acks={result.acks}", badge="just before the kill"))
        parts.append(render_replicas_html(result.after, badge="after the failover", down=[result.old_leader]))
    return "".join(parts)


def _unclean_html(results: tuple[Any, ...]) -> str:
    parts = []
    for result in results:
        setting = "on" if result.unclean else "off"
        parts.append(f"<p>{html.escape(result.describe())}</p>")  # it opens with the setting
        parts.append(render_replicas_html(result.before_kill, title=f"unclean election {setting}",
                                          badge="just before the kill"))
        parts.append(render_replicas_html(result.after_election, badge="right after the kill", down=[result.leader]))
    return "".join(parts)


def _coordinator_html(result: Any) -> str:
    verdict = "exactly once" if result.exactly_once else "NOT exactly once"
    return f"<p><b>{verdict}</b>: {html.escape(result.describe())}</p>"


#: name -> (button label, tooltip, the demo, its drawing)
SCENARIOS: dict[str, tuple[str, str, Callable[[Cluster], Any], Callable[[Any], str]]] = {
    "failover": ("Kill the leader, followers behind", "Pause both followers, produce, SIGKILL the leader: acks=1 "
                 "against acks=all with min.insync.replicas=2 (about 30 s)",
                 lambda cluster: compare_acks(cluster), _failover_html),
    "unclean": ("Leave only an out-of-sync replica", "A follower leaves the ISR, the leader dies: unclean leader "
                "election off against on (about 40 s)", lambda cluster: compare_unclean_election(cluster), _unclean_html),
    "coordinator": ("Kill the transaction coordinator", "SIGKILL the coordinator's node in the middle of a "
                    "transaction, then read back with read_committed (about 30 s)",
                    lambda cluster: transaction_across_coordinator_kill(cluster), _coordinator_html),
}


class DurabilityPanel:
    """Fault buttons over the cluster, the nodes' state, and each result drawn per replica."""

    def __init__(self, cluster: Cluster | None, *, title: str = "Durability panel: break the cluster") -> None:
        self.cluster = cluster
        self.results: list[tuple[str, Any]] = []
        self.running: str | None = None
        self._closed = threading.Event()
        self._demo_thread: threading.Thread | None = None
        self.title = widgets.HTML(f"<b>{html.escape(title)}</b>")
        self.notice = widgets.HTML("")
        self.buttons = {name: make_button(label, tooltip=tooltip, button_style="warning")
                        for name, (label, tooltip, _, _) in SCENARIOS.items()}
        for name, button in self.buttons.items():
            button.on_click(lambda _button, name=name: self._start(name))
        self.status = widgets.HTML("")
        self.pictures = widgets.VBox([])
        self.log = widgets.Output(layout=widgets.Layout(max_height=LOG_HEIGHT, overflow="auto"))
        if cluster is None:
            self.notice.value = f"<i>{html.escape(CLUSTER_FAULTS_UNAVAILABLE)}</i>"
            for button in self.buttons.values():
                button.disabled = True
        self._refresh()
        self._refresher = threading.Thread(target=self._refresh_periodically, name="durability-panel", daemon=True)
        self._refresher.start()

    # ---- actions (also callable from code) ----------------------------------------------------

    def run(self, name: str) -> Any:
        """Run one demo now (blocking), add its result to the panel and return it."""
        if name not in SCENARIOS:
            raise EoslabError(f"no demo named {name!r}; the panel has {', '.join(SCENARIOS)}")
        if self.cluster is None:
            raise EoslabError(CLUSTER_FAULTS_UNAVAILABLE)
        label, _, demo, draw = SCENARIOS[name]
        started = time.monotonic()
        result = demo(self.cluster)
        self.results.append((name, result))
        drawing = draw(result)
        heading = f"<h4>{len(self.results)} · {html.escape(label)} ({time.monotonic() - started:.0f} s)</h4>"
        self.pictures.children = (widgets.HTML(heading + drawing), *self.pictures.children)
        return result

    def status_text(self) -> str:
        if self.cluster is None:
            return "cluster: not the course's own (faults off)"
        try:
            nodes = self.cluster.status().nodes
        except (EoslabError, OSError) as error:
            return f"cluster: {error}"
        states = " · ".join(f"node {node.id} {'paused' if node.paused else 'running' if node.running else 'down'}"
                            for node in nodes)
        doing = f" — running: {SCENARIOS[self.running][0]}" if self.running else ""
        return f"{states}{doing}"

    # ---- callbacks ----------------------------------------------------------------------------

    def _start(self, name: str) -> None:
        if self.running:
            with self.log:
                print(f"one demo at a time: {SCENARIOS[self.running][0]} is still running")
            return
        self.running = name
        for button in self.buttons.values():
            button.disabled = True
        self.log.append_stdout(f"{SCENARIOS[name][0]}: started; the cluster is put back when it ends\n")

        def demo() -> None:  # a thread: it only appends to the log and sets widget values
            try:
                self.run(name)
                self.log.append_stdout(f"{SCENARIOS[name][0]}: done (result on top)\n")
            except (EoslabError, OSError, RuntimeError) as error:
                self.log.append_stdout(f"{SCENARIOS[name][0]}: {str(error).splitlines()[0]}\n")
            finally:
                self.running = None
                for button in self.buttons.values():
                    button.disabled = self.cluster is None
                self._refresh()

        self._demo_thread = threading.Thread(target=demo, name=f"durability-{name}", daemon=True)
        self._demo_thread.start()

    def wait_until_idle(self, timeout_s: float = 120.0) -> None:
        """Wait for a demo started by a button to end (tests; every demo has its own deadlines)."""
        thread = self._demo_thread
        if thread is not None:
            thread.join(timeout_s)
            if thread.is_alive():
                raise EoslabError(f"the demo did not end within {timeout_s:.0f} s; see `eoslab cluster status`")

    def _refresh(self) -> None:
        self.status.value = f"<code>{html.escape(self.status_text())}</code>"

    def _refresh_periodically(self) -> None:
        while not self._closed.wait(REFRESH_S):
            if self.running:
                self._refresh()

    # ---- display ------------------------------------------------------------------------------

    @property
    def widget(self) -> widgets.VBox:
        return widgets.VBox([self.title, self.notice, widgets.HBox(list(self.buttons.values())), self.status,
                             self.pictures, self.log])

    def _ipython_display_(self) -> None:
        from IPython.display import display
        display(self.widget)

    def close(self) -> None:
        """Stop the refresh thread (a demo still running ends by itself and puts the cluster back)."""
        self._closed.set()


__all__ = ["DurabilityPanel", "SCENARIOS"]
