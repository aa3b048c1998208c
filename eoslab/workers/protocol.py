"""What a worker process and the notebook agree on: the spec in, the status lines out, crash points.

Child side only (the parent side is :mod:`eoslab.workers.handle`). A worker is started as
``python -m eoslab.workers.<kind> --spec '<json>'``; it writes one JSON object per line to stdout:
a *status* line (``{"status": {...}}``, the complete latest state) whenever something changed, at
most every :data:`STATUS_INTERVAL_S` plus at once on state changes, and *event* lines
(``{"event": "...", ...}``). The parent's reader thread turns them into ``worker.status`` — the
notebook never polls the broker to follow a worker.

Guarantees: a worker never outlives its ``max_lifetime_s`` nor its parent (a watchdog thread checks
both); at a crash point it reports the point, then SIGKILLs itself — no flush, no close, no
``finally``. What it does not guarantee: that the last status line before a SIGKILL from *outside*
reached the parent (it reflects the worker's state at most :data:`STATUS_INTERVAL_S` earlier).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException

STATUS_INTERVAL_S = 0.05
EXIT_OK = 0
EXIT_ERROR = 2
EXIT_FATAL_KAFKA_ERROR = 3
EXIT_LIFETIME_EXCEEDED = 4

# Which crash points each kind of worker knows; the parent validates against this before starting.
CRASH_POINTS: dict[str, tuple[str, ...]] = {
    "producer": ("at_record", "mid_transaction", "after_send_before_commit"),
    "consumer": ("after_process_before_commit", "after_commit_before_process", "at_record"),
    "pipeline": ("mid_transaction", "before_send_offsets", "before_commit", "at_random_record"),
}


@dataclass(frozen=True)
class CrashPoint:
    """``name`` or ``name:N``: where to die, and at which occurrence (record or transaction, 1-based)."""

    name: str
    occurrence: int = 1

    @classmethod
    def parse(cls, text: str | None, kind: str) -> CrashPoint | None:
        if not text:
            return None
        name, _, number = text.partition(":")
        known = CRASH_POINTS[kind]
        if name not in known:
            raise ValueError(f"{kind} workers have no crash point {name!r}; choose one of {', '.join(known)}")
        if number and not number.isdigit():
            raise ValueError(f"crash point {text!r}: the part after ':' must be a whole number, e.g. {name}:3")
        return cls(name, int(number) if number else 1)

    def __str__(self) -> str:
        return f"{self.name}:{self.occurrence}"


def random_occurrence(seed: int, within: int) -> int:
    """The record number (1..within) a seeded ``at_random_record`` crash point picks: same seed, same record."""
    return random.Random(seed).randint(1, max(1, within))


class StatusReporter:
    """The worker's side of the status pipe; thread-safe; a background thread sends throttled updates."""

    def __init__(self, kind: str, spec: dict[str, Any]) -> None:
        self._lock = threading.Lock()
        self._dirty = False
        self._state: dict[str, Any] = {"kind": kind, "pid": os.getpid(), "phase": "starting",
                                       "crash_point": spec.get("crash_point"), "transaction": "none"}
        self._out = sys.stdout
        sys.stdout = sys.stderr  # a stray print() must not corrupt the status pipe
        threading.Thread(target=self._flush_periodically, name="status", daemon=True).start()

    def update(self, now: bool = False, **changes: Any) -> None:
        """Change fields; sent within STATUS_INTERVAL_S, or at once with ``now`` (state changes)."""
        with self._lock:
            self._state.update(changes)
            self._dirty = True
            if now:
                self._send_locked()

    def add(self, **increments: int) -> None:
        with self._lock:
            for key, amount in increments.items():
                self._state[key] = self._state.get(key, 0) + amount
            self._dirty = True

    def event(self, name: str, **fields: Any) -> None:
        with self._lock:
            self._write_locked({"event": name, **fields})

    def get(self, key: str, default: Any = None) -> Any:
        with self._lock:
            return self._state.get(key, default)

    def _send_locked(self) -> None:
        self._write_locked({"status": self._state})
        self._dirty = False

    def _write_locked(self, message: dict[str, Any]) -> None:
        try:
            self._out.write(json.dumps(message, default=str) + "\n")
            self._out.flush()
        except (BrokenPipeError, ValueError):
            os._exit(EXIT_ERROR)  # the notebook is gone: nobody to report to

    def _flush_periodically(self) -> None:
        while True:
            time.sleep(STATUS_INTERVAL_S)
            with self._lock:
                if self._dirty:
                    self._send_locked()

    def crash(self, point: CrashPoint | str, **fields: Any) -> None:
        """Report the crash point, then die by SIGKILL: no flush, no close, nothing runs after this."""
        self.update(now=True, phase="crashing", crashed_at=str(point), **fields)
        os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(10)  # never reached: SIGKILL cannot be caught


def start_watchdog(reporter: StatusReporter, max_lifetime_s: float) -> None:
    """Exit when the lifetime is over or the parent died (checked every 0.2 s, in a daemon thread)."""
    parent = os.getppid()
    deadline = time.monotonic() + max_lifetime_s

    def watch() -> None:
        while True:
            time.sleep(0.2)
            if os.getppid() != parent:
                os._exit(EXIT_ERROR)  # orphaned: the notebook kernel died; a worker never lingers
            if time.monotonic() > deadline:
                reporter.update(now=True, phase="expired",
                                error=f"max lifetime of {max_lifetime_s:.0f} s reached; the worker stopped itself")
                os._exit(EXIT_LIFETIME_EXCEEDED)

    threading.Thread(target=watch, name="watchdog", daemon=True).start()


def describe_kafka_error(error: KafkaError) -> dict[str, Any]:
    # _FATAL is how librdkafka answers every call once a fatal error happened; the error itself
    # arrives through error_cb (see client_callbacks).
    fatal = bool(error.fatal()) or error.code() == KafkaError._FATAL
    return {"error": f"{error.name()}: {error.str()}", "fatal": fatal,
            "retriable": bool(error.retriable()), "txn_requires_abort": bool(error.txn_requires_abort())}


def client_callbacks(reporter: StatusReporter) -> dict[str, Any]:
    """Config entries that report the client's own errors (fatal ones above all) to the parent."""

    def on_error(error: KafkaError) -> None:
        if error.fatal():
            reporter.update(now=True, fatal_error=f"{error.name()}: {error.str()}")
        else:
            reporter.update(last_client_error=f"{error.name()}: {error.str()}")

    # A worker's stderr is captured by the parent and never reaches the notebook, so here the
    # client may log natively to stderr — at once, even while blocked in a transactional call,
    # where a Python logger would wait for the next poll(). worker.stderr_tail() shows it.
    return {"error_cb": on_error, "logger": None}


def run_worker(kind: str, main: Callable[[dict[str, Any], StatusReporter], None]) -> None:
    """Entry point of every worker module: parse the spec, start the watchdog, run, report the outcome."""
    parser = argparse.ArgumentParser(prog=f"python -m eoslab.workers.{kind}")
    parser.add_argument("--spec", required=True, help="the worker's settings as one JSON object")
    spec = json.loads(parser.parse_args().spec)
    reporter = StatusReporter(kind, spec)
    start_watchdog(reporter, float(spec.get("max_lifetime_s", 120)))
    try:
        main(spec, reporter)
    except KafkaException as raised:
        error = raised.args[0]
        if isinstance(error, KafkaError):
            described = describe_kafka_error(error)
            if error.code() == KafkaError._FATAL and reporter.get("fatal_error"):
                described["error"] = reporter.get("fatal_error")  # the cause, not "a fatal error happened"
            reporter.update(now=True, phase="failed", **described)
        else:
            reporter.update(now=True, phase="failed", error=str(raised), fatal=True)
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(EXIT_FATAL_KAFKA_ERROR)
    except Exception as raised:  # noqa: BLE001 - reported to the parent, traceback to the captured stderr
        reporter.update(now=True, phase="failed", error=f"{type(raised).__name__}: {raised}")
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(EXIT_ERROR)
    reporter.update(now=True, phase="done")
    sys.stderr.flush()
    os._exit(EXIT_OK)  # skip client destructors: the worker reported everything already
