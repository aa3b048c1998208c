"""A failure panel: buttons that inject real faults into running workers, live status, a picture, a log.

One :class:`FailurePanel` per demo. It owns its widgets, the workers it started, the fault proxy
(if a declared fault needs one and none was given) and its refresh thread; ``close()`` stops all of
them and is idempotent. The faults a demo offers are declared as data (``faults=[...]``, names
from :data:`FAULTS`).

Live status comes from the workers' status pipes (no broker polling). Delivery counts
(sent / received / duplicated / lost) are computed with :mod:`eoslab.lessons.verifier` once, when a run has
ended — or when ``check()`` is called — by reading the topic to its end. :attr:`FailurePanel.status_text`
holds the same text the panel shows, so tests and browser tests can look for ``duplicated: 1``.

What a learner sees, top to bottom: the title; a notice line (:meth:`FailurePanel.show_notice`, e.g.
"not done yet — write process_batch()" while the learner's function is still the stub); the run
and fault buttons, each as wide as its label; the status (one line per worker, errors summarised in
one readable line with the raw text behind a disclosure, see :mod:`.error_text`); a picture of
every counted run, latest on top — what was sent and what arrived, duplicates and losses coloured
and counted (:mod:`.delivery_picture`); and the log, which keeps its newest line in view.

Runs are numbered 1, 2, 3 … per panel (:meth:`FailurePanel.start_run`; a restart is not a new run).
The fault proxy may be shared with the notebook's code demos (one proxy per broker port), so the
panel shows what the proxy did *during its own current run*, not the proxy's totals.

Callbacks are named after their event (``on_drop_produce_ack_clicked``) and run inside the log's
``capture``; errors are printed there as one line, never as a traceback. Background threads only
``append_stdout`` to the log or set widget values.
"""

from __future__ import annotations

import html
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import ipywidgets as widgets

from ..errors import EoslabError
from ..lessons.unwritten import NotDoneYet, written_or_note
from ..lessons.verifier import DeliveryReport, read_ids, verify
from ..workers import Worker, WorkerStatus, start_producer
from ..workers.broker_faults import BrokerFaultUnavailable, crash_broker, start_broker
from .delivery_picture import RunPicture, render_runs
from .error_text import summarise_error

REFRESH_S = 0.5
LOG_HEIGHT = "12em"
PARTITION_S = 5.0
DELAY_S = 1.0
RANDOM_KILL_WITHIN_S = 1.0


@dataclass(frozen=True)
class Fault:
    label: str
    tooltip: str
    needs_proxy: bool = False


# The fault space, as data: name -> button. Each name has a method on_<name>_clicked.
FAULTS: dict[str, Fault] = {
    "drop_produce_ack": Fault("Drop next produce ack", "The broker writes the next produce request; its "
                              "response is swallowed and the connection cut, so the client retries.", True),
    "delay_responses": Fault(f"Delay responses {DELAY_S:.0f} s", f"Hold every response {DELAY_S:.0f} s for "
                             f"the next {PARTITION_S:.0f} s.", True),
    "reset_connections": Fault("Reset connections", "Cut every client connection now; clients reconnect.", True),
    "partition_5s": Fault(f"Partition {PARTITION_S:.0f} s", "Nothing crosses between clients and broker for "
                          f"{PARTITION_S:.0f} s, then it heals.", True),
    "kill_worker": Fault("Kill worker (SIGKILL)", "The running worker dies at once: no flush, no commit."),
    "kill_at_random_moment": Fault("Kill at a random moment", f"SIGKILL the running worker at a random "
                                   f"moment within {RANDOM_KILL_WITHIN_S:.0f} s: you do not choose where it is."),
    "pause_worker": Fault("Pause worker (SIGSTOP)", "Freeze the running worker (a zombie) until resumed."),
    "resume_worker": Fault("Resume worker (SIGCONT)", "Let the paused worker carry on."),
    "broker_crash": Fault("Crash broker (SIGKILL)", "Kill the broker hard; the panel then starts it again on "
                          "the same data and says when it is back."),
}


def make_button(description: str, **options: Any) -> widgets.Button:
    """A button as wide as its label (ipywidgets' fixed default width cuts long labels off)."""
    layout = options.pop("layout", None) or widgets.Layout(width="auto")
    return widgets.Button(description=description, layout=layout, **options)


def make_toggle_buttons(options: list[str], description: str) -> widgets.ToggleButtons:
    """Toggle buttons each as wide as its label."""
    return widgets.ToggleButtons(options=options, description=description, style={"button_width": "auto"})


class FailurePanel:
    """Buttons for the declared faults, the workers' live status and delivery counts, and a log.

    ``verify_topic`` + ``isolation_level``: where delivered records are read when a run ends.
    ``sent_ids``: what counts as sent (default: the ids the panel's producers handed to the client).
    ``received_ids``: override how received ids are found (e.g. a consumer's processed ids).

    Subclasses (:mod:`.pipeline_panel`, :mod:`.db_consumer_panel`) add their own run buttons to
    :attr:`extra_controls` and share the faults, status, delivery counts, log and ``close()``.
    """

    #: Count deliveries by itself when every worker has ended — also when the last one was killed.
    #: A panel whose work resumes after a kill (a copier restarted) sets it False: a half-done run
    #: is not a loss, and the learner asks with a button instead.
    check_after_kill: bool = True

    def __init__(self, faults: list[str], *, title: str = "Failure panel", proxy: Any = None,
                 verify_topic: str | None = None, isolation_level: str = "read_committed",
                 sent_ids: Callable[[], list[Any]] | None = None,
                 received_ids: Callable[[], list[Any]] | None = None) -> None:
        unknown = [name for name in faults if name not in FAULTS]
        if unknown:
            raise EoslabError(f"unknown fault {unknown[0]!r}; choose from {', '.join(FAULTS)}")
        self.faults = list(faults)
        self.verify_topic = verify_topic
        self.isolation_level = isolation_level
        self._sent_ids = sent_ids
        self._received_ids = received_ids
        self.workers: list[Worker] = []
        self.report: DeliveryReport | None = None
        self._closed = False
        self._lock = threading.Lock()
        self._verified_for: tuple[int, ...] | None = None
        self._delivery_line = "delivery: not checked yet"
        self._broker_line = ""
        self.runs_started = 0  # runs numbered 1, 2, 3 …: start_run() counts them
        self.run_label = ""  # the current run, as the picture names it
        self._proxy_baseline: dict[str, int] | None = None
        self.pictures: list[RunPicture] = []
        self._picture_runs: list[int] = []
        self._owns_proxy = False
        self.proxy = proxy
        if self.proxy is None and any(FAULTS[name].needs_proxy for name in self.faults):
            from ..chaos import (
                FaultProxy,  # imported only when a network fault is declared
            )

            self.proxy = FaultProxy().start()
            self._owns_proxy = True

        self.title = widgets.HTML(f"<b>{html.escape(title)}</b>")
        self.notice = widgets.HTML(layout=widgets.Layout(display="none"))
        self.status = widgets.HTML()
        self.raw_errors = widgets.HTML()
        self.picture = widgets.HTML()
        # column-reverse keeps the scroll position at the newest line as lines arrive.
        self.log = widgets.Output(layout=widgets.Layout(max_height=LOG_HEIGHT, overflow="auto", display="flex",
                                                        flex_flow="column-reverse", border="1px solid #ddd"))
        self.buttons: dict[str, widgets.Button] = {}
        for name in self.faults:
            fault = FAULTS[name]
            button = make_button(fault.label, tooltip=fault.tooltip)
            button.on_click(self._guarded(getattr(self, f"on_{name}_clicked")))
            self.buttons[name] = button
        wrap = widgets.Layout(flex_flow="row wrap")
        self.extra_controls = widgets.HBox([], layout=wrap)  # variants and run buttons (see for_producer)
        self._box = widgets.VBox([self.title, self.notice, self.extra_controls,
                                  widgets.HBox(list(self.buttons.values()), layout=wrap),
                                  self.status, self.raw_errors, self.picture, self.log])
        self._refresh()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._refresh_periodically, name="failure-panel", daemon=True)
        self._thread.start()

    # ---- building --------------------------------------------------------------------------------

    @classmethod
    def for_producer(cls, topic: str, count: int, variants: dict[str, dict[str, Any]], *,
                     faults: list[str] | None = None, interval_s: float = 0.05,
                     isolation_level: str = "read_uncommitted", title: str | None = None,
                     through_proxy: bool = True, proxy: Any = None,
                     records_per_transaction: int = 10) -> FailurePanel:
        """A panel that runs a producer of ``count`` records (config chosen among ``variants``) through
        the fault proxy, and shows the duplicates and losses of each run when it ends.

        ``interval_s`` spaces the records so each travels in its own request: dropping one
        acknowledgement then duplicates exactly one record when retries are not idempotent.
        ``proxy``: a running :class:`eoslab.chaos.FaultProxy` the notebook already owns (one proxy per
        broker port); the panel uses it and leaves it running on ``close()``. A variant with a
        ``transactional.id`` runs transactions of ``records_per_transaction`` records; every run of
        it is a new instance of the same producer (it fences the previous one).
        """
        panel = cls(faults if faults is not None else ["drop_produce_ack", "kill_worker"],
                    title=title or f"Producer into {topic}", verify_topic=topic, isolation_level=isolation_level,
                    proxy=proxy)
        panel.variant = make_toggle_buttons(list(variants), "Config:")
        panel.run_button = make_button("Run producer", button_style="primary")
        panel._variants = variants
        panel._producer_args = {"topic": topic, "count": count, "interval_s": interval_s,
                                "through_proxy": through_proxy, "records_per_transaction": records_per_transaction}
        panel.run_button.on_click(panel._guarded(panel.on_run_clicked))
        panel.extra_controls.children = (panel.variant, panel.run_button)
        return panel

    def add_worker(self, worker: Worker) -> Worker:
        """Follow (and own: ``close()`` kills it) a worker started elsewhere."""
        with self._lock:
            self.workers.append(worker)
            self._verified_for = None
        return worker

    @property
    def bootstrap(self) -> str | None:
        """The address to give workers so their traffic crosses the panel's proxy (None: direct)."""
        return self.proxy.bootstrap if self.proxy is not None else None

    # ---- callbacks (named after their event) --------------------------------------------------------

    def start_run(self, label: str | None = None) -> int:
        """Begin run number ``runs_started + 1`` (named ``label`` in the picture); returns its number.

        Subclasses call it when a new run starts (not for a restart of the same run). The proxy's
        counters are read now, so the status shows what the proxy did during this run only.
        """
        with self._lock:
            self.runs_started += 1
            self.run_label = label or f"run {self.runs_started}"
            self._proxy_baseline = self._proxy_dropped()
            self.report = None
        return self.runs_started

    def on_run_clicked(self, _button: Any = None) -> None:
        args = self._producer_args
        config = dict(self._variants[self.variant.value])
        run = self.start_run(f"run {self.runs_started + 1} · {self.variant.value}")
        first_id = (run - 1) * 1_000_000  # each run its own ids, so runs on one topic never mix
        worker = start_producer(args["topic"], args["count"], config, first_id=first_id,
                                interval_s=args["interval_s"],
                                records_per_transaction=args["records_per_transaction"],
                                bootstrap=self.bootstrap if args["through_proxy"] else None,
                                name=f"producer run {run} ({self.variant.value})")
        self.add_worker(worker)
        self._run_ids = range(first_id, first_id + args["count"])
        self._delivery_line = "delivery: run in progress"
        print(f"run {run}: producer pid {worker.pid} with {self.variant.value}: {config}")

    def on_drop_produce_ack_clicked(self, _button: Any = None) -> None:
        self._need_proxy().drop_responses("Produce", count=1)
        print("armed: the response to the next produce request will be dropped")

    def on_delay_responses_clicked(self, _button: Any = None) -> None:
        self._need_proxy().delay_responses(DELAY_S, duration_s=PARTITION_S)
        print(f"responses delayed {DELAY_S:.0f} s for {PARTITION_S:.0f} s")

    def on_reset_connections_clicked(self, _button: Any = None) -> None:
        print(f"cut {self._need_proxy().reset_connections()} connections")

    def on_partition_5s_clicked(self, _button: Any = None) -> None:
        self._need_proxy().partition(PARTITION_S)
        print(f"network partition for {PARTITION_S:.0f} s")

    def on_kill_worker_clicked(self, _button: Any = None) -> None:
        worker = self._running_worker()
        final = worker.kill()
        print(f"{worker.name} killed: {final.describe()}")

    def on_kill_at_random_moment_clicked(self, _button: Any = None) -> None:
        worker = self._running_worker()
        delay_s = random.uniform(0.05, RANDOM_KILL_WITHIN_S)

        def strike() -> None:  # a timer thread: it only appends to the log
            if worker.alive:
                self.log.append_stdout(f"{worker.name} killed after {delay_s:.2f} s: {worker.kill().describe()}\n")
            else:
                self.log.append_stdout(f"{worker.name} had already ended: nothing to kill\n")

        timer = threading.Timer(delay_s, strike)
        timer.daemon = True
        timer.start()
        print(f"a SIGKILL for {worker.name} is coming within {RANDOM_KILL_WITHIN_S:.0f} s …")

    def on_pause_worker_clicked(self, _button: Any = None) -> None:
        worker = self._running_worker()
        worker.pause()
        print(f"{worker.name} paused (SIGSTOP): frozen with its connections open")

    def on_resume_worker_clicked(self, _button: Any = None) -> None:
        paused = [w for w in self.workers if w.status.paused]
        if not paused:
            raise EoslabError("no worker is paused")
        paused[-1].resume()
        print(f"{paused[-1].name} resumed (SIGCONT)")

    def on_broker_crash_clicked(self, _button: Any = None) -> None:
        print(f"{crash_broker()}; the panel is starting it again now (10–30 s) …")
        self._broker_line = "broker: crashed, the panel is starting it again …"

        def restart() -> None:
            try:
                self._broker_line = start_broker()
            except (EoslabError, OSError) as error:
                self._broker_line = f"broker: {error}"
            self.log.append_stdout(self._broker_line + "\n")

        threading.Thread(target=restart, name="broker-restart", daemon=True).start()

    # ---- status ------------------------------------------------------------------------------------

    @property
    def status_text(self) -> str:
        """What the status area shows, as plain text (one line per worker, then delivery counts)."""
        with self._lock:
            workers = list(self.workers)
            delivery = self._delivery_line
        lines = [self._worker_line(w) for w in workers] or ["no worker yet"]
        lines.append(delivery)
        proxy_line = self._proxy_line()
        if proxy_line:
            lines.append(proxy_line)
        if self._broker_line:
            lines.append(self._broker_line)
        return "\n".join(lines)

    def describe_worker(self, worker: Worker) -> str:
        """One status line for ``worker`` (subclasses name the counts that matter to their demo).

        The worker's error is not part of it: the panel appends it, summarised (:meth:`_worker_line`).
        """
        return _without_error(worker.status).describe()

    def _worker_line(self, worker: Worker) -> str:
        line = f"{worker.name}: {self.describe_worker(worker)}"
        error = worker.status.error
        if error:
            line += f"; {summarise_error(error)}" + (" (fatal)" if worker.status.fatal else "")
        return line

    def _proxy_dropped(self) -> dict[str, int]:
        if self.proxy is None or not self.proxy.is_running:
            return {}
        return dict(self.proxy.counters().get("responses_dropped", {}))

    def _proxy_line(self) -> str:
        """What the proxy dropped since this panel's current run started (it may be shared)."""
        if self.proxy is None or not self.proxy.is_running:
            return ""
        if self._proxy_baseline is None:
            return "proxy: ready (it counts from your first run)"
        now = self._proxy_dropped()
        dropped = sum(max(0, count - self._proxy_baseline.get(api, 0)) for api, count in now.items())
        return f"proxy during run {self.runs_started}: responses dropped {dropped}"

    def show_notice(self, text: str | None) -> None:
        """A line at the top of the panel (e.g. "not done yet — write …"); None hides it."""
        self.notice.value = (f"<div style='background:#fff4d6;border-left:4px solid #ffb703;padding:2px 6px'>"
                             f"{html.escape(text)}</div>") if text else ""
        self.notice.layout.display = None if text else "none"

    def require_written(self, function: Callable[..., Any], hint: str | None = None) -> Callable[..., Any]:
        """The newest definition of the learner's ``function``; if it is still the stub, the panel says
        so in its notice line and this raises :class:`~eoslab.lessons.NotDoneYet` (shown as one line)."""
        newest, note = written_or_note(function, hint)
        self.show_notice(note)
        if note:
            raise NotDoneYet(note)
        return newest

    def check(self) -> DeliveryReport | None:
        """Read the topic and count sent / received / duplicated / lost now (blocks a few seconds)."""
        sent = self._sent_ids() if self._sent_ids else self._producer_sent_ids()
        if self._received_ids is not None:
            received = self._received_ids()
        elif self.verify_topic:
            received = read_ids(self.verify_topic, self.isolation_level, timeout_s=15)
        else:
            return None
        run_ids = getattr(self, "_run_ids", None)
        if run_ids is not None:
            received = [record for record in received if isinstance(record, int) and record in run_ids]
        report = verify(sent, received)
        proxy_line = self._proxy_line()
        with self._lock:
            self.report = report
            self._delivery_line = (f"delivery: sent {report.sent} · received {report.received} · "
                                   f"duplicated: {report.extra_copies} · lost: {len(report.lost)}"
                                   + (" · exactly once" if report.exactly_once else ""))
            picture = RunPicture(self.run_label or f"check {len(self.pictures) + 1}", tuple(sent), tuple(received),
                                 proxy_line.replace(f"proxy during run {self.runs_started}: ", "proxy: ")
                                 if self._proxy_baseline is not None else "")
            if self._picture_runs and self._picture_runs[-1] == self.runs_started and self.runs_started:
                self.pictures[-1] = picture  # the same run counted again (Verify pressed twice)
            else:
                self.pictures.append(picture)
                self._picture_runs.append(self.runs_started)
        self.picture.value = render_runs(self.pictures)
        return report

    def _producer_sent_ids(self) -> list[Any]:
        producers = [w for w in self.workers if w.kind == "producer"]
        return producers[-1].sent_ids() if producers else []

    def _refresh(self) -> None:
        text = self.status_text
        with self._lock:
            failed = [w for w in self.workers if w.status.error]
        raw = "".join(f"<details><summary>{html.escape(w.name)}: the raw error</summary><div style='white-space:"
                      f"pre-wrap;font-family:monospace;font-size:11px'>{html.escape(w.status.error or '')}</div>"
                      f"</details>" for w in failed)
        self.status.value = f"<pre style='margin:0;white-space:pre-wrap'>{html.escape(text)}</pre>"
        self.raw_errors.value = raw  # its own widget: the status redraws often, an open disclosure stays open

    def _refresh_periodically(self) -> None:
        while not self._stop.wait(REFRESH_S):
            try:
                self._check_when_run_ends()
                self._refresh()
            except Exception as error:  # noqa: BLE001 - a status thread must not die; say why instead
                self.log.append_stdout(f"status: {error}\n")

    def _check_when_run_ends(self) -> None:
        with self._lock:
            workers = list(self.workers)
        if not workers or any(w.alive for w in workers):
            return
        finished = tuple(w.pid for w in workers)
        if self._verified_for == finished:
            return
        self._verified_for = finished
        if not self.check_after_kill and workers[-1].status.exit_signal is not None:
            return  # the work resumes after a restart; counting now would call the unfinished part lost
        report = self.check()
        if report is not None:
            self.log.append_stdout(report.summary() + "\n")

    # ---- helpers ------------------------------------------------------------------------------------

    def _guarded(self, callback: Callable[[Any], None]) -> Callable[[Any], None]:
        """Run a callback inside the log's capture; an error becomes one line there, not a traceback."""

        @self.log.capture(clear_output=False)
        def run(button: Any) -> None:
            try:
                callback(button)
            except NotDoneYet as error:
                print(str(error))
            except BrokerFaultUnavailable as error:
                print(str(error))
            except (EoslabError, OSError, TimeoutError) as error:
                print(f"could not do that: {error}")
            except Exception as error:  # noqa: BLE001 - the panel shows it; the notebook carries on
                print(f"unexpected {type(error).__name__}: {error}")
            self._refresh()

        return run

    def _need_proxy(self) -> Any:
        if self.proxy is None or not self.proxy.is_running:
            raise EoslabError("this panel has no fault proxy; declare a network fault or pass proxy=FaultProxy().start()")
        return self.proxy

    def _running_worker(self) -> Worker:
        running = [w for w in self.workers if w.alive]
        if not running:
            raise EoslabError("no worker is running; start one first")
        return running[-1]

    # ---- display and clean-up -------------------------------------------------------------------

    @property
    def widget(self) -> widgets.VBox:
        return self._box

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self._box)

    def close(self) -> None:
        """Stop the refresh thread, kill the workers, stop an owned proxy, close the widgets. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._thread.join(5)
        for worker in self.workers:
            worker.close()
        if self._owns_proxy and self.proxy is not None:
            self.proxy.stop()
        self._box.close()

    def __enter__(self) -> FailurePanel:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _without_error(status: WorkerStatus) -> WorkerStatus:
    return replace(status, error=None, fatal=False)
