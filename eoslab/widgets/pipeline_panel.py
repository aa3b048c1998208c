"""A failure panel for a consume-transform-produce copier: start it, SIGKILL it, restart it, verify.

:class:`PipelinePanel` is a :class:`~eoslab.widgets.FailurePanel` (same fault buttons, status
area, log, delivery counts and ``close()``) whose worker is a copier running a batch function with
the contract of :mod:`eoslab.harness` (the learner's ``process_batch`` in assignment 05) in a loop,
copying ``records`` input records (ids ``0..records-1``) to an output topic. The copier
``assign()``s the input partition, so a restart resumes at once (no group rebalance to wait for).

Its own buttons: start or restart the copier (same group, same ``transactional.id``: it resumes
from the committed offsets and fences the killed instance) and verify the output (read_committed)
against the input with :func:`eoslab.verify.verify`. Its faults are declared as data like every
panel's: by default ``kill_worker`` and ``kill_at_random_moment``.

Guarantees: every kill is a real SIGKILL; a killed run is not counted as a loss (the output is only
counted when a copier ends by itself, or on "Verify output"); ``close()`` is idempotent, stops the
status thread, kills the copier and removes the function's temporary module. Not covered: broker
faults (add ``broker_crash`` to ``faults``) and creating or deleting the topics (the caller's).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from ..harness import copier_spec, write_module
from ..workers import Worker
from .failure_panel import FailurePanel

DEFAULT_LIFETIME_S = 600.0


class PipelinePanel(FailurePanel):
    """Start / restart and verify buttons for a copier from ``input_topic`` to ``output_topic``, plus faults."""

    check_after_kill = False  # a killed copier is restarted, not judged

    def __init__(self, function: Callable[..., int], input_topic: str, output_topic: str, records: int, *,
                 faults: list[str] | None = None, max_records: int = 10, transform_delay_s: float = 0.0,
                 lifetime_s: float = DEFAULT_LIFETIME_S, title: str | None = None) -> None:
        super().__init__(faults if faults is not None else ["kill_worker", "kill_at_random_moment"],
                         title=title or f"Copier ({function.__name__}): {records} records, "
                                        f"{input_topic} → {output_topic}",
                         verify_topic=output_topic, isolation_level="read_committed",
                         sent_ids=lambda: list(range(records)))
        self.input_topic, self.output_topic, self.records = input_topic, output_topic, records
        self._module_dir = tempfile.TemporaryDirectory(prefix="eoslab-panel-")
        module_path = write_module(function, Path(self._module_dir.name))
        self.spec = {**copier_spec(function, module_path, input_topic, output_topic, records,
                                   max_records=max_records),
                     "max_lifetime_s": lifetime_s, "transform_delay_s": transform_delay_s}
        self.start_button = widgets.Button(description="Start / restart copier", icon="play", button_style="primary")
        self.verify_button = widgets.Button(description="Verify output", icon="check")
        self.start_button.on_click(self._guarded(self.on_start_clicked))
        self.verify_button.on_click(self._guarded(self.on_verify_clicked))
        self.extra_controls.children = (self.start_button, self.verify_button)

    # ---- actions (also callable from code) ----------------------------------------------------

    @property
    def worker(self) -> Worker | None:
        """The latest copier run (None before the first start)."""
        return self.workers[-1] if self.workers else None

    @property
    def kills(self) -> int:
        """How many copier runs ended by SIGKILL."""
        return sum(worker.status.exit_signal == "SIGKILL" for worker in self.workers)

    def start(self) -> Worker:
        """Start the copier, or restart it after a kill (same group and transactional.id)."""
        if self.worker is not None and self.worker.alive:
            return self.worker
        return self.add_worker(Worker("learner_pipeline", self.spec, name=f"copier run {len(self.workers) + 1}"))

    def kill(self) -> str:
        """SIGKILL the running copier now; a line saying how it ended."""
        if self.worker is None or not self.worker.alive:
            return "the copier is not running: start it first"
        return f"killed: {self.worker.kill().describe()}"

    def verify(self) -> str:
        """Read the output read_committed and compare it with the input ids (blocks a few seconds)."""
        report = self.check()
        assert report is not None  # verify_topic is always set here
        return f"read_committed output after {self.kills} kill(s): {report.summary()}"

    # ---- callbacks ----------------------------------------------------------------------------

    def on_start_clicked(self, _button: Any = None) -> None:
        running = self.worker is not None and self.worker.alive
        worker = self.start()
        print(f"{worker.name} {'already running' if running else 'started'}, pid {worker.pid}")

    def on_verify_clicked(self, _button: Any = None) -> None:
        print(self.verify())

    # ---- status and clean-up ------------------------------------------------------------------

    def describe_worker(self, worker: Worker) -> str:
        status = worker.status
        state = ("running" if status.alive else
                 f"killed by {status.exit_signal}" if status.exit_signal else f"ended ({status.phase})")
        return (f"pid {status.pid} {state}: produced {status.produced}, input records committed "
                f"{status.committed}, aborts {status.transactions_aborted}")

    def close(self) -> None:
        """What :meth:`FailurePanel.close` does, then remove the function's temporary module. Idempotent."""
        super().close()
        self._module_dir.cleanup()
