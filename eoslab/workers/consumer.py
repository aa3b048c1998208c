"""A consumer worker that "processes" each record by appending its id to a file, and commits offsets.

Run by :func:`eoslab.workers.start_consumer`. The file (``processed_file``) is the side effect a
real consumer would have — a row in a database, an e-mail — and it survives a crash, so the
notebook can count how often each record was processed across a crash and a restart.

``commit`` decides the delivery semantics, which is the lesson:

- ``"after_process"``: process, then commit the record's offset — a crash in between means the
  record is processed again after a restart (**at-least-once**);
- ``"before_process"``: commit, then process — a crash in between means the record is never
  processed (**at-most-once**);
- ``"none"``: no explicit commit (e.g. with ``enable.auto.commit=true``, the seed's naive loop).

Crash points, N = the N-th record this worker receives (1-based): ``after_process_before_commit:N``,
``after_commit_before_process:N``, ``at_record:N`` (on receipt, before anything).

The worker stops by itself when no record arrived for ``idle_exit_s`` after it was assigned
partitions, or after ``max_records``. Status fields: assigned, seen, processed, committed,
last_offset, error.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from confluent_kafka import KafkaError, TopicPartition

from ..kafka.clients import make_consumer
from ..lessons.verifier import record_id
from .protocol import (
    CrashPoint,
    StatusReporter,
    client_callbacks,
    describe_kafka_error,
    run_worker,
)

COMMIT_MODES = ("after_process", "before_process", "none")



def group_membership(group: str, member: str | None, protocol: str = "classic") -> dict[str, Any]:
    """Group plumbing, not the lesson (the caller's config wins over these keys).

    ``protocol="consumer"`` (KIP-848, ``group.protocol=consumer``): the session timeout and the
    heartbeat interval are the broker's (group.consumer.session.timeout.ms, 45 s at least), and a
    client that sets them is refused, so only the group's name (and the static member's) is set.
    """
    config: dict[str, Any] = {"group.id": group}
    if protocol != "consumer":
        # A crashed member's partitions go to the next one after 6 s (the broker's minimum)
        # instead of 45 s, so a crash-and-restart demo takes seconds.
        config.update({"session.timeout.ms": 6000, "heartbeat.interval.ms": 1000})
    if member:
        # Static membership: a restart with the same member name takes the partitions back at
        # once. Not the default: if the broker is away longer than the session timeout, the
        # member's own rejoin fences it (a fatal consumer error), so broker-crash demos need dynamic members.
        config["group.instance.id"] = f"{group}-{member}"
    return config


def main(spec: dict[str, Any], reporter: StatusReporter) -> None:
    crash = CrashPoint.parse(spec.get("crash_point"), "consumer")
    commit_mode = spec.get("commit", "after_process")
    if commit_mode not in COMMIT_MODES:
        raise ValueError(f"commit={commit_mode!r}: choose one of {', '.join(COMMIT_MODES)}")
    idle_exit_s = float(spec.get("idle_exit_s", 3.0))
    max_records = spec.get("max_records")
    process_delay_s = float(spec.get("process_delay_s", 0.0))
    if crash and crash.name == "after_commit_before_process" and commit_mode != "before_process":
        raise ValueError("crash point after_commit_before_process needs commit='before_process'")
    if crash and crash.name == "after_process_before_commit" and commit_mode == "before_process":
        raise ValueError("crash point after_process_before_commit needs commit='after_process' (or 'none')")
    config = {**group_membership(spec["group"], spec.get("member")), **(spec.get("config") or {})}
    reporter.update(now=True, assigned=False, seen=0, processed=0, committed=0, last_offset=None,
                    commit_mode=commit_mode, processed_file=spec["processed_file"])

    assigned_at: list[float] = []

    def on_assign(consumer: Any, partitions: list[TopicPartition]) -> None:
        assigned_at.append(time.monotonic())
        reporter.update(now=True, assigned=True, partitions=[p.partition for p in partitions])

    consumer = make_consumer({**config, **client_callbacks(reporter)}, bootstrap_servers=spec["bootstrap"])
    consumer.subscribe([spec["topic"]], on_assign=on_assign)
    reporter.update(now=True, phase="running")
    processed_file = open(spec["processed_file"], "a", encoding="utf-8")  # noqa: SIM115 - open until exit
    seen = 0
    for seen, message in records_until_idle(consumer, reporter, idle_exit_s, assigned_at):
        if crash and crash.name == "at_record" and seen == crash.occurrence:
            reporter.crash(crash)
        if commit_mode == "before_process":
            consumer.commit(message=message, asynchronous=False)
            reporter.add(committed=1)
            if crash and crash.name == "after_commit_before_process" and seen == crash.occurrence:
                reporter.crash(crash)  # the offset says "done", the work was never done: a lost record
        # "Processing": the side effect that must happen once per record.
        if process_delay_s:
            time.sleep(process_delay_s)
        processed_file.write(f"{record_id(message.value())}\n")
        processed_file.flush()  # in the OS's hands now: it survives the process's SIGKILL
        reporter.add(processed=1)
        if crash and crash.name == "after_process_before_commit" and seen == crash.occurrence:
            reporter.crash(crash)  # the work is done, the offset does not say so: processed again later
        if commit_mode == "after_process":
            consumer.commit(message=message, asynchronous=False)
            reporter.add(committed=1)
        if max_records is not None and seen >= int(max_records):
            break
    processed_file.close()
    reporter.update(now=True, phase="closing")
    consumer.close()  # leaves the group at once, so the next member need not wait for a timeout


def records_until_idle(consumer: Any, reporter: StatusReporter, idle_exit_s: float,
                       assigned_at: list[float]) -> Iterator[tuple[int, Any]]:
    """Yield (records seen so far, record) until none arrived for ``idle_exit_s`` after assignment.

    Poll errors are reported in the status (end-of-partition is not an error) and skipped.
    """
    last_record_at = time.monotonic()
    seen = 0
    while True:
        message = consumer.poll(0.2)
        if message is None:
            quiet_since = max(last_record_at, assigned_at[0]) if assigned_at else None
            if quiet_since is not None and time.monotonic() - quiet_since > idle_exit_s:
                return
            continue
        if message.error() is not None:
            if message.error().code() != KafkaError._PARTITION_EOF:
                reporter.update(now=True, **describe_kafka_error(message.error()))
            continue
        last_record_at = time.monotonic()
        seen += 1
        reporter.update(seen=seen, last_offset=message.offset())
        yield seen, message


if __name__ == "__main__":
    run_worker("consumer", main)
