"""A failure panel for a consume-transform-produce copier: start it, SIGKILL it, restart it, verify.

:class:`PipelinePanel` is a :class:`~eoslab.widgets.FailurePanel` (same fault buttons, status
area, picture, log, delivery counts and ``close()``) whose worker is a copier running a batch
function with the contract of :mod:`eoslab.workers.harness` (the learner's ``process_batch`` in
assignment 06) in a loop, copying ``records`` input records (ids ``0..records-1``) to an output
topic. The copier ``assign()``s the input partition, so a restart resumes at once (no group
rebalance to wait for).

Its own buttons: start or restart the copier (same group, same ``transactional.id``: it resumes
from the committed offsets and fences the killed instance), verify the output (read_committed)
against the input with :func:`eoslab.lessons.verifier.verify`, and **fresh input**: new input and
output topics with ``records`` new records and a new copier identity, so the demo can be run again
once the input is copied (a restart after a finished copy has nothing left to do). Its faults are
declared as data like every panel's: by default ``kill_worker`` and ``kill_at_random_moment``.

Long enough to break: the copy is paced (``run_s``, about :data:`DEFAULT_RUN_S` seconds for the
whole input unless ``transform_delay_s`` says otherwise), and *Kill at a random moment* picks a
random record among those still to copy and kills the copier when it gets there, so the kill
always lands mid-run, never after the end. While the learner's function is still the stub, the
panel says "not done yet" in its notice line and starts nothing; it always runs the newest
definition of the function (re-running its cell is enough).

Guarantees: every kill is a real SIGKILL; a killed run is not counted as a loss (the output is only
counted when a copier ends by itself, or on "Verify output"); ``close()`` is idempotent, stops the
status thread, kills the copier, removes the function's temporary module and deletes the topics
*it* created (fresh input); the topics given to it stay the caller's. Not covered: broker faults
(add ``broker_crash`` to ``faults``).
"""

from __future__ import annotations

import random
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import EoslabError
from ..kafka.clients import create_topics, delete_topics, unique_name
from ..workers import Worker
from ..workers.harness import copier_spec, produce_input, write_module
from .failure_panel import FailurePanel, make_button

DEFAULT_LIFETIME_S = 600.0
DEFAULT_RUN_S = 20.0  # the whole input, unkilled: long enough to press a button in the middle
KILL_WAIT_S = 120.0
# A copier on a panel waits this long for input before it gives up. The harness's 1 s suits grading,
# but the first fetch of a fresh group waits for its coordinator, which on a new or loaded broker
# takes seconds; a drained input still ends the copier at once (its committed offsets say so).
PANEL_IDLE_EXIT_S = 30.0


class PipelinePanel(FailurePanel):
    """Start / restart, verify and fresh-input buttons for a copier from ``input_topic`` to ``output_topic``."""

    check_after_kill = False  # a killed copier is restarted, not judged

    def __init__(self, function: Callable[..., int], input_topic: str, output_topic: str, records: int, *,
                 faults: list[str] | None = None, max_records: int = 10, transform_delay_s: float | None = None,
                 run_s: float | None = None, lifetime_s: float = DEFAULT_LIFETIME_S, title: str | None = None,
                 hint: str | None = None) -> None:
        super().__init__(faults if faults is not None else ["kill_worker", "kill_at_random_moment"],
                         title=title or f"Copier ({function.__name__}): {records} records, "
                                        f"{input_topic} → {output_topic}",
                         verify_topic=output_topic, isolation_level="read_committed",
                         sent_ids=lambda: list(range(records)))
        self.function, self.hint = function, hint
        self.input_topic, self.output_topic, self.records = input_topic, output_topic, records
        self.max_records, self.lifetime_s = max_records, lifetime_s
        if transform_delay_s is None:
            transform_delay_s = (run_s if run_s is not None else DEFAULT_RUN_S) / max(1, records)
        self.transform_delay_s = transform_delay_s
        self._module_dir = tempfile.TemporaryDirectory(prefix="eoslab-panel-")
        self._created_topics: list[str] = []
        self.inputs = 1  # which input the copier works on (Fresh input makes the next one)
        self._first_worker_of_input = 0
        self.spec = self._spec(function)
        self.start_button = make_button("Start / restart copier", icon="play", button_style="primary",
                                        tooltip="Start the copier; after a kill, restart it: same group and "
                                                "transactional.id, so it resumes from the committed offsets.")
        self.verify_button = make_button("Verify output", icon="check",
                                         tooltip="Read the output read_committed and compare it with the input.")
        self.fresh_button = make_button("Fresh input", icon="refresh",
                                        tooltip=f"New input and output topics with {records} new records and a "
                                                "new copier, to run the demo again.")
        self.start_button.on_click(self._guarded(self.on_start_clicked))
        self.verify_button.on_click(self._guarded(self.on_verify_clicked))
        self.fresh_button.on_click(self._guarded(self.on_fresh_input_clicked))
        self.extra_controls.children = (self.start_button, self.verify_button, self.fresh_button)
        self.start_run(self._input_label())
        self.require_written_quietly()

    def _spec(self, function: Callable[..., int]) -> dict[str, Any]:
        module_path = write_module(function, Path(self._module_dir.name))
        return {**copier_spec(function, module_path, self.input_topic, self.output_topic, self.records,
                              max_records=self.max_records),
                "max_lifetime_s": self.lifetime_s, "transform_delay_s": self.transform_delay_s,
                "idle_exit_s": PANEL_IDLE_EXIT_S}

    def _input_label(self) -> str:
        return f"input {self.inputs}"

    def require_written_quietly(self) -> None:
        """Show the "not done yet" notice if the function is still the stub (raise nothing)."""
        try:
            self.require_written(self.function, self.hint)
        except NotImplementedError:
            pass

    # ---- actions (also callable from code) ----------------------------------------------------

    @property
    def worker(self) -> Worker | None:
        """The latest copier run (None before the first start)."""
        return self.workers[-1] if self.workers else None

    @property
    def input_workers(self) -> list[Worker]:
        """The copier runs on the current input."""
        return self.workers[self._first_worker_of_input:]

    @property
    def kills(self) -> int:
        """How many copier runs on the current input ended by SIGKILL."""
        return sum(worker.status.exit_signal == "SIGKILL" for worker in self.input_workers)

    @property
    def copied(self) -> int:
        """Input records whose copies are committed so far (all runs on the current input)."""
        return sum(worker.status.committed for worker in self.input_workers)

    def start(self) -> Worker:
        """Start the copier, or restart it after a kill (same group and transactional.id).

        Runs the newest definition of the learner's function; raises NotDoneYet while it is the stub.
        """
        if self.worker is not None and self.worker.alive:
            return self.worker
        newest = self.require_written(self.function, self.hint)
        if newest is not self.function or not self.input_workers:
            self.function = newest
            self.spec = {**self.spec, "module_path": str(write_module(newest, Path(self._module_dir.name)))}
        number = len(self.input_workers) + 1
        name = f"copier run {number}" + (" (restart)" if number > 1 else "") + f", input {self.inputs}"
        return self.add_worker(Worker("learner_pipeline", self.spec, name=name))

    def kill(self) -> str:
        """SIGKILL the running copier now; a line saying how it ended."""
        if self.worker is None or not self.worker.alive:
            return "the copier is not running: start it first"
        return f"killed: {self.worker.kill().describe()}"

    def check(self) -> Any:
        """:meth:`FailurePanel.check`, the picture naming the input and how many kills it took."""
        self.run_label = f"{self._input_label()} · after {self.kills} kill{'s' if self.kills != 1 else ''}"
        return super().check()

    def verify(self) -> str:
        """Read the output read_committed and compare it with the input ids (blocks a few seconds)."""
        report = self.check()
        assert report is not None  # verify_topic is always set here
        return f"read_committed output after {self.kills} kill(s): {report.summary()}"

    def fresh_input(self) -> str:
        """New topics with ``records`` new input records and a new copier identity; a line saying so."""
        if self.worker is not None and self.worker.alive:
            raise EoslabError("the copier is still running: kill it or let it finish before a fresh input")
        source, target = create_topics([unique_name("panel-in"), unique_name("panel-out")])
        self._created_topics += [source, target]
        produce_input(source, self.records)
        self.input_topic, self.output_topic, self.verify_topic = source, target, target
        self.inputs += 1
        self._first_worker_of_input = len(self.workers)
        self.spec = self._spec(self.function)
        self._delivery_line = "delivery: not checked yet"
        self.start_run(self._input_label())
        return f"input {self.inputs}: {self.records} new records in {source}, output to {target}, a new copier"

    # ---- callbacks ----------------------------------------------------------------------------

    def on_start_clicked(self, _button: Any = None) -> None:
        running = self.worker is not None and self.worker.alive
        worker = self.start()
        print(f"{worker.name} {'already running' if running else 'started'}, pid {worker.pid}")

    def on_verify_clicked(self, _button: Any = None) -> None:
        print(self.verify())

    def on_fresh_input_clicked(self, _button: Any = None) -> None:
        print(self.fresh_input())

    def on_kill_at_random_moment_clicked(self, _button: Any = None) -> None:
        """SIGKILL the copier when it reaches a record chosen at random among those still to copy."""
        worker = self._running_worker()
        remaining = self.records - self.copied
        if remaining < 2:
            raise EoslabError("nothing left to copy on this input: press Fresh input first")
        already = worker.status.produced
        # The strike sees the copier's count only between batches (and late on a loaded machine), so
        # the record chosen leaves the last batch out: the kill lands before the copy is complete.
        target = already + random.randint(1, max(1, remaining - max(1, self.max_records)))

        def strike() -> None:  # a thread: it only appends to the log
            try:
                worker.wait_for(lambda status: status.produced >= target, KILL_WAIT_S,
                                f"copy #{target}")
            except (TimeoutError, EoslabError) as error:
                self.log.append_stdout(f"no kill: {error}\n")
                return
            self.log.append_stdout(f"{worker.name} killed at copy #{target}: {worker.kill().describe()}\n")

        threading.Thread(target=strike, name="random-kill", daemon=True).start()
        print(f"a SIGKILL for {worker.name} is coming at a random record still to copy …")

    # ---- status and clean-up ------------------------------------------------------------------

    def describe_worker(self, worker: Worker) -> str:
        status = worker.status
        state = ("running" if status.alive else
                 f"killed by {status.exit_signal}" if status.exit_signal else f"ended ({status.phase})")
        return (f"pid {status.pid} {state}: produced {status.produced}, input records committed "
                f"{status.committed}, aborts {status.transactions_aborted}")

    def close(self) -> None:
        """What :meth:`FailurePanel.close` does, then remove the function's temporary module and the
        topics the panel created. Idempotent."""
        if self._closed:
            return
        super().close()
        self._module_dir.cleanup()
        if self._created_topics:
            delete_topics(self._created_topics)
