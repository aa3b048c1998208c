"""The notebook's handle on a worker process: start it, follow it, pause it, kill it.

A :class:`Worker` runs ``python -m eoslab.workers.<kind>`` as a real subprocess in its own session.
A reader thread turns the worker's status lines (see :mod:`eoslab.workers.protocol`) into
:attr:`Worker.status`, and wakes :meth:`Worker.wait_for` when something changes — nobody polls the
broker. The worker's stderr is captured (:meth:`Worker.stderr_tail`), never shown in the notebook.

Guarantees: :meth:`Worker.kill` is SIGKILL (no clean shutdown) and returns once the process is
gone; :meth:`Worker.pause` / :meth:`Worker.resume` are SIGSTOP / SIGCONT; :meth:`Worker.close` is
idempotent and leaves no process behind, also at interpreter exit. Every wait has a deadline.
"""

from __future__ import annotations

import atexit
import collections
import json
import os
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ..errors import EoslabError

STDERR_LINES_KEPT = 200
EVENTS_KEPT = 500


@dataclass(frozen=True)
class WorkerStatus:
    """The latest state a worker reported, plus what the parent knows (alive, paused, exit)."""

    kind: str = ""
    pid: int = 0
    alive: bool = True
    paused: bool = False
    phase: str = "starting"  # starting, init_transactions, running, closing, done, crashing, failed, expired
    step: str | None = None  # pipeline: the transactional call in progress (a stuck worker says where)
    crash_point: str | None = None
    crashed_at: str | None = None
    # producer
    sent: int = 0
    acked: int = 0
    failed: int = 0
    first_id: int = 0
    # consumer
    assigned: bool = False
    partitions: tuple[int, ...] = ()  # the partitions it owns now (group copiers: changes with each rebalance)
    seen: int = 0
    processed: int = 0
    # pipeline
    consumed: int = 0
    produced: int = 0
    # commits and transactions
    committed: int = 0
    transaction: str = "none"  # none, open, committed, aborting, aborted, failed
    transactions_committed: int = 0
    transactions_aborted: int = 0
    last_offset: int | None = None
    # errors and the end
    error: str | None = None
    fatal: bool = False
    exit_code: int | None = None
    exit_signal: str | None = None

    def describe(self) -> str:
        """One line for logs and error messages."""
        state = ("paused" if self.paused else "alive") if self.alive else (
            f"killed by {self.exit_signal}" if self.exit_signal else f"exited with code {self.exit_code}")
        counts = {"producer": f"sent {self.sent}, acked {self.acked}",
                  "consumer": f"seen {self.seen}, processed {self.processed}, committed {self.committed}",
                  "pipeline": f"consumed {self.consumed}, produced {self.produced}, committed {self.committed}",
                  "learner_pipeline": f"produced {self.produced}, input records committed {self.committed}",
                  "learner_member": f"produced {self.produced}, transactions committed {self.transactions_committed}, "
                                    f"aborted {self.transactions_aborted}"}
        line = f"{self.kind} pid {self.pid} {state}, {self.phase}: {counts.get(self.kind, '')}"
        if self.transaction != "none":
            line += f", transaction {self.transaction}" + (f" ({self.step})" if self.step and self.alive else "")
        if self.error:
            line += f"; error: {self.error}" + (" (fatal)" if self.fatal else "")
        return line


_STATUS_FIELDS = {f.name for f in fields(WorkerStatus)}
_live_workers: weakref.WeakSet[Worker] = weakref.WeakSet()


class WorkerExited(EoslabError):
    """The worker ended before the awaited condition became true."""


class Worker:
    """One worker subprocess. Build it with :func:`eoslab.workers.start_producer` and friends."""

    def __init__(self, kind: str, spec: dict[str, Any], *, name: str | None = None) -> None:
        self.kind = kind
        self.spec = spec
        self.name = name or kind
        self._condition = threading.Condition()
        self._state: dict[str, Any] = {"kind": kind}
        self._events: collections.deque[dict[str, Any]] = collections.deque(maxlen=EVENTS_KEPT)
        self._stderr: collections.deque[str] = collections.deque(maxlen=STDERR_LINES_KEPT)
        self._paused = False
        self._closed = False
        environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self._process = subprocess.Popen(
            [sys.executable, "-m", f"eoslab.workers.{kind}", "--spec", json.dumps(spec)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1,
            env=environment,
            start_new_session=True,  # a Ctrl-C or kernel interrupt is not meant for the worker
        )
        self.pid = self._process.pid
        self._state["pid"] = self.pid
        self._reader = threading.Thread(target=self._read_status, name=f"{self.name}-status", daemon=True)
        self._stderr_reader = threading.Thread(target=self._read_stderr, name=f"{self.name}-stderr", daemon=True)
        self._reader.start()
        self._stderr_reader.start()
        _live_workers.add(self)

    # ---- following it ------------------------------------------------------------------------

    @property
    def status(self) -> WorkerStatus:
        """The latest snapshot (cheap; no I/O)."""
        with self._condition:
            return self._snapshot_locked()

    @property
    def alive(self) -> bool:
        return self._process.poll() is None

    def _snapshot_locked(self) -> WorkerStatus:
        returncode = self._process.poll()
        known = {key: value for key, value in self._state.items() if key in _STATUS_FIELDS}
        if "partitions" in known:
            known["partitions"] = tuple(known["partitions"])  # JSON gives a list; the status is frozen
        known.update(alive=returncode is None, paused=self._paused and returncode is None)
        if returncode is not None:
            known["exit_code"] = returncode
            if returncode < 0:
                known["exit_signal"] = signal.Signals(-returncode).name
        return WorkerStatus(**known)

    def wait_for(self, condition: Callable[[WorkerStatus], bool], timeout_s: float = 30.0,
                 what: str = "the condition") -> WorkerStatus:
        """Block until ``condition(status)`` is true; the status that satisfied it is returned.

        Raises TimeoutError after ``timeout_s`` and :class:`WorkerExited` if the worker ends first,
        both with the worker's last status in the message.
        """
        deadline = time.monotonic() + timeout_s
        with self._condition:
            while True:
                snapshot = self._snapshot_locked()
                if condition(snapshot):
                    return snapshot
                if not snapshot.alive and not self._reader.is_alive():
                    raise WorkerExited(f"{self.name} ended before {what}: {snapshot.describe()}"
                                       + self._stderr_hint())
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{self.name}: {what} not reached within {timeout_s:.0f} s; "
                                       f"{snapshot.describe()}")
                # Woken by every status line; the bound also notices an exit without a last line.
                self._condition.wait(min(remaining, 0.5))

    def wait(self, timeout_s: float = 60.0) -> WorkerStatus:
        """Wait for the process to end (however it ends) and its last status line to be read."""
        try:
            self._process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            raise TimeoutError(f"{self.name} still running after {timeout_s:.0f} s: {self.status.describe()}") from None
        self._reader.join(5)
        return self.status

    def events(self) -> list[dict[str, Any]]:
        with self._condition:
            return list(self._events)

    def stderr_tail(self, lines: int = 20) -> list[str]:
        """The worker's last stderr lines (tracebacks land here, never in the notebook)."""
        with self._condition:
            return list(self._stderr)[-lines:]

    def _stderr_hint(self) -> str:
        tail = [line for line in list(self._stderr)[-5:] if line.strip()]
        return f" (last stderr line: {tail[-1].strip()[:200]})" if tail else ""

    # ---- what it did -------------------------------------------------------------------------

    def sent_ids(self) -> list[int]:
        """Producer: the ids handed to the client so far (``first_id`` .. ``first_id + sent - 1``)."""
        snapshot = self.status
        return list(range(snapshot.first_id, snapshot.first_id + snapshot.sent))

    @property
    def processed_file(self) -> Path | None:
        value = self.spec.get("processed_file")
        return Path(value) if value else None

    def processed_ids(self) -> list[Any]:
        """Consumer: every id processed, in order, by this worker *and* by any earlier worker that
        shared its ``processed_file`` (a restart after a crash) — duplicates included."""
        if self.processed_file is None or not self.processed_file.exists():
            return []
        ids: list[Any] = []
        for line in self.processed_file.read_text(encoding="utf-8").splitlines():
            if line:
                ids.append(int(line) if line.isdigit() else line)
        return ids

    def restart(self, **changes: Any) -> Worker:
        """A new worker with the same spec (same ids, group, transactional id, processed file) and
        no crash point unless ``changes`` sets one; this one is closed first."""
        self.close()
        spec = {**self.spec, "crash_point": None, **changes}
        return Worker(self.kind, spec, name=self.name)

    # ---- hurting it --------------------------------------------------------------------------

    def kill(self, timeout_s: float = 10.0) -> WorkerStatus:
        """SIGKILL: the process ends at once, no flush, no close. Returns its final status."""
        self._signal(signal.SIGKILL)
        self.wait(timeout_s)
        return self.status

    def pause(self) -> None:
        """SIGSTOP: frozen mid-step, connections open — a zombie for fencing demos."""
        self._signal(signal.SIGSTOP)
        with self._condition:
            self._paused = True
            self._condition.notify_all()

    def resume(self) -> None:
        """SIGCONT: the paused worker carries on as if no time had passed (it may find itself fenced)."""
        self._signal(signal.SIGCONT)
        with self._condition:
            self._paused = False
            self._condition.notify_all()

    def _signal(self, sig: signal.Signals) -> None:
        if self._process.poll() is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass  # ended in between

    def close(self) -> None:
        """Kill the worker if it still runs and release its pipes. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._process.poll() is None:
            self._signal(signal.SIGKILL)
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                pass
        self._reader.join(5)
        self._stderr_reader.join(5)
        for stream in (self._process.stdout, self._process.stderr):
            if stream is not None:
                stream.close()
        _live_workers.discard(self)

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Worker {self.name}: {self.status.describe()}>"

    # ---- reader threads ----------------------------------------------------------------------

    def _read_status(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            try:
                message = json.loads(line)
            except json.JSONDecodeError:
                with self._condition:
                    self._stderr.append(f"(stdout) {line.rstrip()}")
                continue
            with self._condition:
                if "status" in message:
                    self._state.update(message["status"])
                elif "event" in message:
                    self._events.append(message)
                self._condition.notify_all()
        self._process.wait()
        with self._condition:
            self._condition.notify_all()

    def _read_stderr(self) -> None:
        assert self._process.stderr is not None
        for line in self._process.stderr:
            with self._condition:
                self._stderr.append(line.rstrip("\n"))


@atexit.register
def _close_all_workers() -> None:
    for worker in list(_live_workers):
        worker.close()
