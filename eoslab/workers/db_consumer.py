"""A consumer worker whose side effect is a row in SQLite, and that can die between the row and the offset.

Start it with :func:`start_db_consumer`; it runs as ``python -m eoslab.workers.db_consumer`` on the
worker machinery of this package (status pipe, watchdog, SIGKILL at a crash point). Each record is
a payment (:func:`eoslab.lessons.sinks.payment_value`) booked by one of the sinks of :mod:`eoslab.lessons.sinks`:

- ``"naive"`` and ``"unique_id"``: book the payment (one DB transaction), then commit the record's
  offset to Kafka — the at-least-once order; the crash point in between makes the replay happen;
- ``"offsets_in_db"``: book the payment and the next offset in one DB transaction, and on
  assignment seek to the offsets stored in the database (an ``on_assign`` callback). It commits
  nothing to Kafka: the group's committed offsets play no part in where it resumes.

Crash points, N = the N-th record this worker receives (1-based):
``after_db_commit_before_offset_commit:N`` (the row is in the database, the offset is not committed)
and ``mid_db_transaction:N`` (the row is written but its transaction not committed: SQLite rolls it back).

The worker stops when no record arrived for ``idle_exit_s`` after it was assigned partitions, or
after ``max_records``. Status fields: assigned, seen, processed (rows added), committed (Kafka
offset commits), last_offset.
"""

from __future__ import annotations

import time
from typing import Any

from confluent_kafka import TopicPartition

from ..errors import EoslabError
from ..kafka.clients import make_consumer
from ..kafka.connect import bootstrap as default_bootstrap
from ..lessons.sinks import SINK_KINDS, open_sink
from .consumer import group_membership, records_until_idle
from .handle import Worker
from .launch import DEFAULT_LIFETIME_S
from .protocol import CrashPoint, StatusReporter, client_callbacks, run_worker

KIND = "db_consumer"
DB_CRASH_POINTS = ("after_db_commit_before_offset_commit", "mid_db_transaction")


def parse_crash_point(text: str | None) -> CrashPoint | None:
    """``name`` or ``name:N`` for one of :data:`DB_CRASH_POINTS` (this kind is not in protocol's table)."""
    if not text:
        return None
    name, _, number = text.partition(":")
    if name not in DB_CRASH_POINTS:
        raise EoslabError(f"db_consumer workers have no crash point {name!r}; choose one of {', '.join(DB_CRASH_POINTS)}")
    if number and not number.isdigit():
        raise EoslabError(f"crash point {text!r}: the part after ':' must be a whole number, e.g. {name}:3")
    return CrashPoint(name, int(number) if number else 1)


def start_db_consumer(topic: str, group: str, db_path: str, sink: str, *, crash_point: str | None = None,
                      config: dict[str, Any] | None = None, bootstrap: str | None = None,
                      commit_every: int = 1, idle_exit_s: float = 2.0, max_records: int | None = None,
                      member: str | None = "db-member",
                      max_lifetime_s: float = DEFAULT_LIFETIME_S, name: str | None = None) -> Worker:
    """Book the payments of ``topic`` into the SQLite file ``db_path`` with ``sink`` (see the module doc).

    ``config`` is merged over the worker's consumer settings (group, ``enable.auto.commit=False``,
    ``isolation.level=read_committed``, ``auto.offset.reset=earliest``). ``commit_every`` commits the
    Kafka offset after every N-th record only (a common batching habit: a crash replays up to N).
    ``member`` makes it a static
    group member, so :meth:`Worker.restart` after a SIGKILL gets the partition back at once.
    """
    if sink not in SINK_KINDS:
        raise EoslabError(f"no sink {sink!r}; choose one of {', '.join(SINK_KINDS)}")
    parse_crash_point(crash_point)  # fail in the notebook, not silently in the worker
    spec = {"topic": topic, "group": group, "db_path": str(db_path), "sink": sink, "crash_point": crash_point,
            "config": config or {}, "commit_every": commit_every, "bootstrap": bootstrap or default_bootstrap(), "idle_exit_s": idle_exit_s,
            "max_records": max_records, "member": member, "max_lifetime_s": max_lifetime_s}
    return Worker(KIND, spec, name=name or f"{sink} consumer")


def main(spec: dict[str, Any], reporter: StatusReporter) -> None:
    crash = parse_crash_point(spec.get("crash_point"))
    sink = open_sink(spec["sink"], spec["db_path"])
    idle_exit_s = float(spec.get("idle_exit_s", 2.0))
    max_records = spec.get("max_records")
    commit_every = max(1, int(spec.get("commit_every", 1)))
    config = {
        **group_membership(spec["group"], spec.get("member")),
        "enable.auto.commit": False,  # the worker commits after booking (or never, offsets_in_db)
        "isolation.level": "read_committed",  # never book a payment from an aborted transaction
        "auto.offset.reset": "earliest",  # a new group starts at the first payment
        **(spec.get("config") or {}),
    }
    reporter.update(now=True, assigned=False, seen=0, processed=0, committed=0, last_offset=None, sink=sink.kind)
    assigned_at: list[float] = []

    def on_assign(consumer: Any, partitions: list[TopicPartition]) -> None:
        if sink.stores_offsets:
            positions = sink.positions_for(partitions)  # type: ignore[attr-defined]
            consumer.assign(positions)  # resume where the database says, not where Kafka's group says
            reporter.event("seeked", offsets={p.partition: p.offset for p in positions})
        assigned_at.append(time.monotonic())
        reporter.update(now=True, assigned=True, partitions=[p.partition for p in partitions])

    consumer = make_consumer({**config, **client_callbacks(reporter)}, bootstrap_servers=spec["bootstrap"])
    consumer.subscribe([spec["topic"]], on_assign=on_assign)
    reporter.update(now=True, phase="running")
    seen = 0
    for seen, message in records_until_idle(consumer, reporter, idle_exit_s, assigned_at):

        def die_mid_transaction(occurrence: int = seen) -> None:
            if crash and crash.name == "mid_db_transaction" and occurrence == crash.occurrence:
                reporter.crash(crash)  # the row is written, its transaction never commits

        if sink.apply(message, before_commit=die_mid_transaction):
            reporter.add(processed=1)
        if crash and crash.name == "after_db_commit_before_offset_commit" and seen == crash.occurrence:
            reporter.crash(crash)  # booked for good; Kafka still thinks the record is unread
        if not sink.stores_offsets and seen % commit_every == 0:
            consumer.commit(message=message, asynchronous=False)
            reporter.add(committed=1)
        if max_records is not None and seen >= int(max_records):
            break
    if not sink.stores_offsets and seen % commit_every:
        consumer.commit(asynchronous=False)  # a clean stop commits the tail of the last batch
        reporter.add(committed=1)
    reporter.update(now=True, phase="closing")
    sink.close()
    consumer.close()


if __name__ == "__main__":
    run_worker(KIND, main)
