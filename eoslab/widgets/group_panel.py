"""A consumer-group panel: up to three exactly-once copiers share a six-partition input, live.

:class:`GroupPanel` is a :class:`~eoslab.widgets.FailurePanel` whose workers are the course's
copier (:mod:`eoslab.workers.pipeline`) in group mode: each ``subscribe()``s to the input as one
consumer group, with its own ``transactional.id`` (one per instance, KIP-447), and sends its
offsets with ``send_offsets_to_transaction(positions, consumer_group_metadata())``. Choose a copier
with the selector, then:

- **Start / restart**: the copier joins the group (a rebalance: partitions move to it); after a
  kill it comes back with the same ``transactional.id`` and fences its dead predecessor;
- **Kill (SIGKILL)**: its partitions go to the others after the session timeout (6 s);
- **Pause (zombie)** / **Resume**: SIGSTOP past the session timeout, so the group moves on without
  it; resumed, it finishes its batch and sends its offsets with the old generation: the group
  coordinator refuses them (``ILLEGAL_GENERATION`` or ``UNKNOWN_MEMBER_ID``), and its transaction is
  aborted — a zombie *consumer*, fenced;
- **Verify output**: the output read ``read_committed`` against the input: lost, duplicated, and
  the order within each input partition;
- **Fresh input**: new topics, records and group, in the mode chosen: *offsets in the transaction*
  (exactly-once) or *consumer.commit() after* (the contrast: a kill or a rebalance copies records
  twice).

The status shows who owns which partition, live (each copier reports its assignment on its status
pipe), and per copier its transactions committed and aborted and why the last one was aborted.
Guarantees: every copier has a lifetime; ``close()`` kills them all and deletes the topics the
panel created. Works on any broker (it breaks only its own processes).
"""

from __future__ import annotations

import time
from typing import Any

from ..errors import EoslabError
from ..kafka.clients import create_topics, delete_topics, unique_name
from ..workers import Worker, start_pipeline
from ..workers.group_run import PAUSE_S, SESSION_TIMEOUT_MS, verify_group_copy
from ..workers.harness import produce_input
from .failure_panel import FailurePanel, make_button, make_toggle_buttons

MODES = {"offsets in the transaction": "exactly_once", "consumer.commit() after": "at_least_once"}
DEFAULT_RECORDS = 6000
DEFAULT_COPY_DELAY_S = 0.02  # per record: two minutes of copying for one copier, time to break it
PAUSE_WAIT_S = 5.0  # how long Pause waits for its copier to be in the middle of a transaction
RECORDS_PER_TRANSACTION = 50
IDLE_EXIT_S = 60.0
DEFAULT_LIFETIME_S = 600.0
INSTANCES = 3


class GroupPanel(FailurePanel):
    """Start, kill, pause and resume up to three group copiers; watch partitions move; verify."""

    check_after_kill = False  # copiers are restarted, not judged one by one

    def __init__(self, records: int = DEFAULT_RECORDS, partitions: int = 6, *, mode: str = "exactly_once",
                 copy_delay_s: float = DEFAULT_COPY_DELAY_S, lifetime_s: float = DEFAULT_LIFETIME_S,
                 title: str | None = None) -> None:
        if mode not in MODES.values():
            raise EoslabError(f"mode {mode!r}: choose 'exactly_once' or 'at_least_once'")
        self.partitions = partitions
        self.copiers: dict[int, Worker] = {}  # instance number (1..3) -> its latest process
        self.paused_at: dict[int, float] = {}
        super().__init__([], title=title or f"A consumer group of copiers: {records} records on {partitions} "
                                             f"partitions", isolation_level="read_committed",
                         sent_ids=lambda: list(range(self.records)))
        self.records, self.copy_delay_s, self.lifetime_s = records, copy_delay_s, lifetime_s
        self.mode = mode
        self._created_topics: list[str] = []
        self.selector = make_toggle_buttons([f"copier {n}" for n in range(1, INSTANCES + 1)], "")
        self.mode_toggle = make_toggle_buttons(list(MODES), "next input:")
        self.mode_toggle.value = next(label for label, value in MODES.items() if value == mode)
        buttons = [("Start / restart", "play", self.on_start_clicked,
                    "Join the group (or come back after a kill with the same transactional.id)"),
                   ("Kill (SIGKILL)", "bolt", self.on_kill_clicked,
                    "Kill the selected copier; the group gives its partitions to the others"),
                   ("Pause (zombie)", "pause", self.on_pause_clicked,
                    f"SIGSTOP: after {SESSION_TIMEOUT_MS / 1000:.0f} s the group moves on without it"),
                   ("Resume", "play-circle", self.on_resume_clicked,
                    "SIGCONT: a zombie wakes up; watch its offsets refused and its transaction aborted"),
                   ("Verify output", "check", self.on_verify_clicked,
                    "Read the output read_committed: lost, duplicated, order per input partition"),
                   ("Fresh input", "refresh", self.on_fresh_input_clicked,
                    f"New topics and {records} records, in the mode chosen on the right")]
        self.group_buttons = {}
        for label, icon, callback, tooltip in buttons:
            button = make_button(label, icon=icon, tooltip=tooltip)
            button.on_click(self._guarded(callback))
            self.group_buttons[label] = button
        self.extra_controls.children = (self.selector, *self.group_buttons.values(), self.mode_toggle)
        self._new_input()

    # ---- actions (also callable from code) ----------------------------------------------------

    def _new_input(self) -> None:
        source, target = create_topics([unique_name("group-panel-in"), unique_name("group-panel-out")],
                                       partitions=self.partitions)
        self._created_topics += [source, target]
        produce_input(source, self.records)
        self.input_topic, self.output_topic, self.verify_topic = source, target, target
        self.group = unique_name("group-panel")
        self.copiers, self.paused_at = {}, {}
        self._delivery_line = "delivery: not checked yet"
        self.start_run(f"input {self.runs_started + 1} ({self.mode.replace('_', '-')})")

    def start(self, instance: int) -> Worker:
        """Start copier ``instance`` (1..3), or restart it after a kill (same transactional.id)."""
        self._check_instance(instance)
        current = self.copiers.get(instance)
        if current is not None and current.alive:
            return current
        exactly_once = self.mode == "exactly_once"
        worker = start_pipeline(
            self.input_topic, self.output_topic, self.group, f"{self.group}-{instance}" if exactly_once else None,
            mode=self.mode, records_per_transaction=RECORDS_PER_TRANSACTION, process_delay_s=self.copy_delay_s,
            consumer_config={"session.timeout.ms": SESSION_TIMEOUT_MS}, idle_exit_s=IDLE_EXIT_S,
            max_lifetime_s=self.lifetime_s, name=f"copier {instance}")
        self.copiers[instance] = self.add_worker(worker)
        self.paused_at.pop(instance, None)
        return worker

    def kill(self, instance: int) -> str:
        worker = self._alive(instance)
        self.paused_at.pop(instance, None)
        return f"copier {instance} killed: {worker.kill().describe()}"

    def pause(self, instance: int) -> str:
        """SIGSTOP copier ``instance`` in the middle of a transaction (a few copies written, not committed),
        so that when it wakes up it has a transaction to finish: the zombie's case. Waits for that moment
        (at most :data:`PAUSE_WAIT_S`); a copier between transactions is paused anyway."""
        worker = self._alive(instance)
        try:
            caught = worker.wait_for(lambda status: status.transaction == "open" and
                                     status.produced % RECORDS_PER_TRANSACTION >= 10, PAUSE_WAIT_S,
                                     f"copier {instance} in the middle of a transaction")
            where = f"in the middle of a transaction ({caught.produced % RECORDS_PER_TRANSACTION} copies not committed)"
        except TimeoutError:
            where = "between transactions"
        worker.pause()
        self.paused_at[instance] = time.monotonic()
        return (f"copier {instance} paused {where}; in {SESSION_TIMEOUT_MS / 1000:.0f} s the group gives its "
                f"partitions to the others. Resume it after {PAUSE_S:.0f} s or more to see a zombie fenced.")

    def resume(self, instance: int) -> str:
        worker = self._alive(instance)
        paused_for = time.monotonic() - self.paused_at.pop(instance, time.monotonic())
        worker.resume()
        return f"copier {instance} resumed after {paused_for:.0f} s paused"

    def owners(self) -> dict[int, int]:
        """Partition -> the copier that owns it now, as the copiers report it (paused ones included)."""
        owned: dict[int, int] = {}
        for instance, worker in sorted(self.copiers.items()):
            if worker.alive:
                for partition in worker.status.partitions:
                    owned[partition] = instance
        return owned

    def verify(self) -> str:
        """The output against the input, read_committed, with the order within each input partition."""
        report = self.check()
        ordered = verify_group_copy(self.input_topic, self.output_topic, 20.0)
        order = "order per input partition kept" if not ordered.out_of_order else \
            f"{len(ordered.out_of_order)} records out of order within their input partition"
        with self._lock:
            self._delivery_line += f" · {order}"
        assert report is not None  # verify_topic is always set
        return f"{report.summary()}; {order}"

    def fresh_input(self) -> str:
        if any(worker.alive for worker in self.copiers.values()):
            raise EoslabError("copiers are still running on this input: kill them (or let them finish) first")
        self.mode = MODES[self.mode_toggle.value]
        self._new_input()
        return f"new input: {self.records} records on {self.partitions} partitions, mode {self.mode_toggle.value}"

    # ---- callbacks ----------------------------------------------------------------------------

    def _selected(self) -> int:
        return int(str(self.selector.value).split()[-1])

    def on_start_clicked(self, _button: Any = None) -> None:
        worker = self.start(self._selected())
        print(f"{worker.name} running, pid {worker.pid}: it joins the group, partitions move")

    def on_kill_clicked(self, _button: Any = None) -> None:
        print(self.kill(self._selected()))

    def on_pause_clicked(self, _button: Any = None) -> None:
        print(self.pause(self._selected()))

    def on_resume_clicked(self, _button: Any = None) -> None:
        print(self.resume(self._selected()))

    def on_verify_clicked(self, _button: Any = None) -> None:
        print(self.verify())

    def on_fresh_input_clicked(self, _button: Any = None) -> None:
        print(self.fresh_input())

    # ---- status -------------------------------------------------------------------------------

    @property
    def status_text(self) -> str:
        owned = self.owners()
        lines = ["partitions: " + " · ".join(f"{p}→{('copier ' + str(owned[p])) if p in owned else 'nobody'}"
                                            for p in range(self.partitions))]
        with self._lock:
            latest = sorted(self.copiers.items())  # a restarted copier's earlier processes are history
            delivery = self._delivery_line
        lines += [self._worker_line(worker) for _, worker in latest] or ["no copier yet: start copier 1"]
        lines.append(delivery)
        return "\n".join(lines)

    def describe_worker(self, worker: Worker) -> str:
        status = worker.status
        instance = next((n for n, w in self.copiers.items() if w is worker), None)
        if not status.alive:
            state = f"killed by {status.exit_signal}" if status.exit_signal else f"ended ({status.phase})"
        elif status.paused and instance in self.paused_at:
            seconds = time.monotonic() - self.paused_at[instance]
            state = (f"paused {seconds:.0f} s" + (" — the group has moved on: a zombie" if
                                                   seconds * 1000 > SESSION_TIMEOUT_MS else ""))
        else:
            state = "running"
        owns = f"partitions {list(status.partitions)}" if status.alive else "no partitions"
        return (f"pid {status.pid} {state}, {owns}, {status.transactions_committed} transactions committed, "
                f"{status.transactions_aborted} aborted, {status.committed} input records committed")

    def _alive(self, instance: int) -> Worker:
        self._check_instance(instance)
        worker = self.copiers.get(instance)
        if worker is None or not worker.alive:
            raise EoslabError(f"copier {instance} is not running: start it first")
        return worker

    @staticmethod
    def _check_instance(instance: int) -> None:
        if instance not in range(1, INSTANCES + 1):
            raise EoslabError(f"copier {instance}: the panel has copiers 1 to {INSTANCES}")

    def close(self) -> None:
        """What :meth:`FailurePanel.close` does, then delete the topics the panel created. Idempotent."""
        if self._closed:
            return
        super().close()
        if self._created_topics:
            delete_topics(self._created_topics)


__all__ = ["GroupPanel", "MODES"]
