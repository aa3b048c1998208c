"""A failure panel for a consumer that books payments into SQLite: crash it between the database
commit and the offset commit, restart it, count the duplicate rows per sink.

:class:`DbConsumerPanel` is a :class:`~eoslab.widgets.FailurePanel` (same fault buttons, status,
log, delivery counts and ``close()``) whose workers are :func:`eoslab.workers.db_consumer.start_db_consumer`
bookkeepers. Its own controls: the sink (``naive``, ``unique_id``, ``offsets_in_db``, see
:mod:`eoslab.lessons.sinks`), "Run, crash after the DB commit" (a fresh group and a fresh database file, a
worker that SIGKILLs itself right after booking its ``crash_after``-th payment and before committing
that offset to Kafka; offsets are committed every ``commit_every`` payments) and "Restart" (the same
group, database and settings, no crash point: Kafka replays from the last committed offset).
Received ids are the rows of the current database, so "duplicated" counts rows booked twice.
Runs are numbered 1, 2, 3 …; a restart belongs to its run ("naive bookkeeper run 2 (restart)").

Guarantees: each run has its own group and file (runs never mix); the crash is a real SIGKILL at
the named point; delivery counts are computed when the restarted worker has ended by itself (a
crashed run is half done, not lossy); ``close()`` is idempotent and kills the workers. The caller
owns ``topic`` and ``workdir``. Not covered: crashes inside the database transaction (use the
worker's ``mid_db_transaction`` crash point from code).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import EoslabError
from ..kafka.clients import unique_name
from ..lessons.sinks import SINK_KINDS, booked_ids
from ..workers import Worker
from ..workers.db_consumer import start_db_consumer
from .failure_panel import FailurePanel, make_button, make_toggle_buttons

IDLE_EXIT_S = 1.0  # a bookkeeper stops once no payment arrived for a second


class DbConsumerPanel(FailurePanel):
    """Sink choice, "Run, crash after the DB commit" and "Restart" buttons for payment bookkeepers."""

    check_after_kill = False  # the crashed run is restarted, then counted

    def __init__(self, topic: str, sent_ids: Iterable[int], workdir: str | Path, *, crash_after: int = 15,
                 commit_every: int = 10, sinks: Iterable[str] = SINK_KINDS, faults: list[str] | None = None,
                 title: str | None = None) -> None:
        self.topic = topic
        self.workdir = Path(workdir)
        self.crash_after, self.commit_every = crash_after, commit_every
        self.database: Path | None = None  # the current run's SQLite file
        expected = list(sent_ids)
        super().__init__(faults if faults is not None else ["kill_worker"],
                         title=title or f"Bookkeeper of {topic}", sent_ids=lambda: expected,
                         received_ids=lambda: booked_ids(self.database) if self.database else [])
        self.sink = make_toggle_buttons(list(sinks), "Sink:")
        self.run_button = make_button(f"Run, crash after DB commit #{crash_after}", button_style="primary",
                                      tooltip=f"Book payments; die after booking payment #{crash_after}, "
                                              "before its offset is committed to Kafka.")
        self.restart_button = make_button("Restart (no crash)", icon="play",
                                          tooltip="Same group and database: Kafka replays from the last "
                                                  "committed offset.")
        self.run_button.on_click(self._guarded(self.on_run_clicked))
        self.restart_button.on_click(self._guarded(self.on_restart_clicked))
        self.extra_controls.children = (self.sink, self.run_button, self.restart_button)

    # ---- actions (also callable from code) ----------------------------------------------------

    def run(self, sink: str | None = None) -> Worker:
        """A fresh group and database for ``sink`` (default: the selected one); a worker that crashes
        after the DB commit of payment #``crash_after``."""
        sink = sink or self.sink.value
        if sink not in SINK_KINDS:
            raise EoslabError(f"no sink {sink!r}; choose one of {', '.join(SINK_KINDS)}")
        run_name = unique_name(f"panel-{sink}")
        self.database = self.workdir / f"{run_name}.db"
        number = self.start_run(f"run {self.runs_started + 1} · {sink} sink, crash after DB commit "
                                f"#{self.crash_after}, restart")
        self._delivery_line = "delivery: counted once the restarted bookkeeper has ended"
        worker = start_db_consumer(self.topic, run_name, str(self.database), sink,
                                   crash_point=f"after_db_commit_before_offset_commit:{self.crash_after}",
                                   commit_every=self.commit_every, idle_exit_s=IDLE_EXIT_S,
                                   name=f"{sink} bookkeeper run {number}")
        return self.add_worker(worker)

    def restart(self) -> Worker:
        """Restart the latest bookkeeper: same group, database and sink, no crash point."""
        if not self.workers:
            raise EoslabError("no bookkeeper has run yet; press Run first")
        latest = self.workers[-1]
        if latest.alive:
            raise EoslabError(f"{latest.name} is still running; wait for it or kill it first")
        self.report = None
        self._delivery_line = "delivery: counted once the restarted bookkeeper has ended"
        restarted = Worker(latest.kind, {**latest.spec, "crash_point": None},
                           name=f"{latest.name.split(' (restart')[0]} (restart)")
        return self.add_worker(restarted)

    # ---- callbacks ----------------------------------------------------------------------------

    def on_run_clicked(self, _button: Any = None) -> None:
        worker = self.run()
        print(f"{worker.name}: pid {worker.pid}, database {self.database.name if self.database else ''}")

    def on_restart_clicked(self, _button: Any = None) -> None:
        worker = self.restart()
        print(f"{worker.name}: pid {worker.pid}, resumes from the group's committed offset")

    # ---- status -------------------------------------------------------------------------------

    def describe_worker(self, worker: Worker) -> str:
        status = worker.status
        state = ("running" if status.alive else
                 f"killed by {status.exit_signal}" + (f" at {status.crashed_at}" if status.crashed_at else "")
                 if status.exit_signal else f"ended ({status.phase})")
        return (f"pid {status.pid} {state}: received {status.seen}, rows added {status.processed}, "
                f"offset commits {status.committed}")
