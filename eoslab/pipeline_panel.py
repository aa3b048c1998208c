"""A failure panel for a consume-transform-produce copier: start it, SIGKILL it, restart it, verify.

:class:`PipelineKillPanel` owns one copier worker that runs a batch function with the contract of
:mod:`eoslab.harness` (the learner's ``process_batch``, in assignment 05) in a loop, copying
``records`` input records (ids ``0..records-1``) to an output topic. The worker ``assign()``s the
input partition, so a restart resumes at once (no group rebalance to wait for). Buttons: start or restart the copier (same group, same
``transactional.id``: it resumes from the committed offsets and fences the killed instance), kill it
now, kill it at a random moment within a second, and verify the output (read_committed) against the
input with :func:`eoslab.verify.verify`. A status line shows what the copier reported.

Guarantees: every kill is a real SIGKILL; :meth:`close` is idempotent, stops the status thread and
kills the worker; the status thread stops by itself after ``lifetime_s``. Not covered: broker
faults (see :mod:`eoslab.workers.broker_faults`) and creating or deleting the topics (the caller's).
"""

from __future__ import annotations

import random
import threading
from typing import Any

import tempfile
from collections.abc import Callable
from pathlib import Path

from .errors import EoslabError
from .harness import copier_spec, write_module
from .verify import read_ids, verify
from .workers import Worker

STATUS_REFRESH_S = 0.3


class PipelineKillPanel:
    """Buttons that start, kill and restart a copier from ``input_topic`` to ``output_topic``."""

    def __init__(self, function: Callable[..., int], input_topic: str, output_topic: str, records: int, *,
                 max_records: int = 10, transform_delay_s: float = 0.0, lifetime_s: float = 600.0) -> None:
        import ipywidgets as widgets

        self.input_topic, self.output_topic, self.records = input_topic, output_topic, records
        self._module_dir = tempfile.TemporaryDirectory(prefix="eoslab-panel-")
        module_path = write_module(function, Path(self._module_dir.name))
        self.spec = {**copier_spec(function, module_path, input_topic, output_topic, records,
                                   max_records=max_records), "max_lifetime_s": lifetime_s,
                     "transform_delay_s": transform_delay_s}
        self.worker: Worker | None = None
        self.kills = 0
        self._lifetime_s = lifetime_s
        self._stop = threading.Event()
        self._buttons = {
            "start": widgets.Button(description="Start / restart copier", icon="play"),
            "kill": widgets.Button(description="Kill now (SIGKILL)", icon="skull", button_style="danger"),
            "random": widgets.Button(description="Kill at a random moment", icon="random", button_style="warning"),
            "verify": widgets.Button(description="Verify output", icon="check"),
        }
        self._buttons["start"].on_click(self.on_start_clicked)
        self._buttons["kill"].on_click(self.on_kill_clicked)
        self._buttons["random"].on_click(self.on_random_kill_clicked)
        self._buttons["verify"].on_click(self.on_verify_clicked)
        self._status = widgets.HTML(value=self._status_text())
        self._output = widgets.Output()
        self._box = widgets.VBox([widgets.HTML(f"<b>Copier ({function.__name__})</b>: {records} records, "
                                               f"{input_topic} → {output_topic}"),
                                  widgets.HBox(list(self._buttons.values())), self._status, self._output])
        self._thread = threading.Thread(target=self._refresh_status, name="pipeline-panel", daemon=True)
        self._thread.start()

    # ---- actions (also callable from code) ----------------------------------------------------

    def start(self) -> Worker:
        """Start the copier, or restart it after a kill (same group and transactional.id)."""
        if self.worker is not None and self.worker.alive:
            return self.worker
        if self.worker is not None:
            self.worker.close()
        self.worker = Worker("learner_pipeline", self.spec, name="panel-copier")
        return self.worker

    def kill(self) -> str:
        if self.worker is None or not self.worker.alive:
            return "the copier is not running: start it first"
        status = self.worker.kill()
        self.kills += 1
        return f"killed: {status.describe()}"

    def verify(self) -> str:
        report = verify(range(self.records), read_ids(self.output_topic, "read_committed"))
        return f"read_committed output after {self.kills} kill(s): {report.summary()}"

    # ---- callbacks ----------------------------------------------------------------------------

    def on_start_clicked(self, _button: Any) -> None:
        with self._output:
            worker = self.start()
            print(f"copier running, pid {worker.pid}")

    def on_kill_clicked(self, _button: Any) -> None:
        with self._output:
            print(self.kill())

    def on_random_kill_clicked(self, _button: Any) -> None:
        delay = random.uniform(0.05, 1.0)
        self._output.append_stdout(f"a kill is coming within {delay:.2f} s …\n")
        threading.Timer(delay, lambda: self._output.append_stdout(self.kill() + "\n")).start()

    def on_verify_clicked(self, _button: Any) -> None:
        with self._output:
            try:
                print(self.verify())
            except (EoslabError, TimeoutError) as error:
                print(error)

    # ---- display and cleanup ------------------------------------------------------------------

    def _status_text(self) -> str:
        if self.worker is None:
            return "copier not started"
        status = self.worker.status
        state = "running" if status.alive else (f"killed by {status.exit_signal}" if status.exit_signal
                                                 else f"ended ({status.phase})")
        return (f"pid {status.pid} {state}: produced {status.produced}, committed by this run "
                f"{status.committed}, aborts {status.transactions_aborted}; kills so far {self.kills}")

    def _refresh_status(self) -> None:
        # A background thread never prints: it sets the widget's value (ipywidgets' rule for threads).
        ticks = int(self._lifetime_s / STATUS_REFRESH_S)
        for _ in range(ticks):
            if self._stop.wait(STATUS_REFRESH_S):
                return
            self._status.value = self._status_text()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self._box)

    def close(self) -> None:
        """Stop the status thread and kill the copier if it runs. Idempotent."""
        self._stop.set()
        if self.worker is not None:
            self.worker.close()
        self._box.close()
        self._module_dir.cleanup()
