"""The course's consume-transform-produce reference loop, exactly-once or at-least-once.

Run by :func:`eoslab.workers.start_pipeline`. It copies records from ``input_topic`` to
``output_topic`` (the transform keeps the record's id and adds ``copied``), in batches of
``records_per_transaction``.

``mode="exactly_once"`` — what it guarantees: each input record's copy is committed to the output
exactly once, across crashes of this worker and of the broker, because the consumed offsets are
committed *inside* the producer's transaction (``send_offsets_to_transaction``): output and
progress become visible together or not at all. Assumptions: readers of the output use
read_committed; every instance uses the same ``transactional_id`` for the same input partitions
(so a restarted instance fences the old one); the input has no duplicates. Every transactional
call has a deadline the client cannot overrun: a call still blocked past it ends the worker with a
fatal error, and a new instance takes over (its ``init_transactions`` aborts what was left open).

``mode="at_least_once"`` — for contrast, the seed's loop: poll, produce, flush, *then* commit the
offsets. A crash after producing and before the commit copies the batch again after a restart.

Crash points (T = the T-th batch this worker handles, 1-based): ``mid_transaction:T`` (half the
batch produced and written), ``before_send_offsets:T`` (all of it written),
``before_commit:T`` (offsets sent, commit not yet asked), ``at_random_record`` (just before
producing a record chosen by ``seed`` among the first ``random_within``). In at-least-once mode
the batch plays the transaction's part.

Status fields: consumed, produced, committed (input records whose progress was committed),
transaction, transactions_committed, transactions_aborted, last_offset (next input offset
committed), records_of_revoked_partitions (records a consume() handed over after their
partition was revoked inside it: dropped, the next owner copies them), error, fatal.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from confluent_kafka import KafkaException, Message, TopicPartition

from ..errors import EoslabError
from ..kafka.clients import make_consumer, make_producer
from ..lessons.rewind import rewind_to_committed
from ..lessons.verifier import record_id, record_value
from .consumer import group_membership
from .protocol import (
    EXIT_FATAL_KAFKA_ERROR,
    CrashPoint,
    StatusReporter,
    client_callbacks,
    describe_kafka_error,
    random_occurrence,
    run_worker,
)

CALL_TIMEOUT_S = 20.0
RETRIES_OF_ONE_CALL = 3
# A transactional call still blocked this long after its own timeout is stuck in the client.
STUCK_CALL_GRACE_S = 20.0
MODES = ("exactly_once", "at_least_once")


def main(spec: dict[str, Any], reporter: StatusReporter) -> None:
    mode = spec.get("mode", "exactly_once")
    if mode not in MODES:
        raise ValueError(f"mode={mode!r}: choose one of {', '.join(MODES)}")
    crash = CrashPoint.parse(spec.get("crash_point"), "pipeline")
    crash_record = (random_occurrence(int(spec.get("seed", 0)), int(spec.get("random_within", 50)))
                    if crash and crash.name == "at_random_record" else None)
    exactly_once = mode == "exactly_once"
    consumer_config = spec.get("consumer_config") or {}
    consumer = make_consumer({
        **group_membership(spec["group"], spec.get("member"), consumer_config.get("group.protocol", "classic")),
        "enable.auto.commit": False,  # progress is committed by this loop only (in the transaction, for EOS)
        "auto.offset.reset": "earliest",  # a new group starts at the beginning of the input
        "isolation.level": "read_committed",  # never copy records of aborted upstream transactions
        **consumer_config,
        **client_callbacks(reporter),
    }, bootstrap_servers=spec["bootstrap"])
    producer_config: dict[str, Any] = {
        "enable.idempotence": True,  # no duplicates from the producer's own retries
        "acks": "all",  # a record counts as written once every in-sync replica has it
    }
    if exactly_once:
        producer_config.update({
            "transactional.id": spec["transactional_id"],  # a restarted instance fences this one
            # The coordinator aborts a transaction open longer than this (and fences its producer).
            # 60 s (the default) outlasts a broker restart on a slow machine (~30 s measured).
            "transaction.timeout.ms": 60000,
            # No re-bootstrap when every broker is down: one broker, back at the same address,
            # needs none. librdkafka 2.16's re-bootstrap retires the old broker handle while it is
            # still cached as the group coordinator; send_offsets_to_transaction then waits for
            # that dead handle forever, past its own timeout (librdkafka issues 5511 and 5456).
            "metadata.recovery.strategy": "none",
        })
    producer_config.update(spec.get("producer_config") or {})
    producer_config.update(client_callbacks(reporter))
    producer = make_producer(producer_config, bootstrap_servers=spec["bootstrap"])
    reporter.update(now=True, mode=mode, consumed=0, produced=0, committed=0, transactions_committed=0,
                    transactions_aborted=0, last_offset=None, crash_record=crash_record)
    if exactly_once:
        reporter.update(now=True, phase="init_transactions")
        # Fences any older instance with this transactional.id and aborts what it left open.
        producer.init_transactions(CALL_TIMEOUT_S)
    assigned_at: list[float] = []
    # What this instance owns. Eager protocols revoke everything and assign the whole new set;
    # cooperative-sticky and KIP-848 (group.protocol=consumer) hand out and take back only the
    # partitions that move, so ownership is kept as a set. The callbacks run inside consume(),
    # never in the middle of a transaction: each batch's transaction ends before the next consume.
    owned: set[int] = set()

    def on_assign(_consumer: Any, partitions: list[TopicPartition]) -> None:
        assigned_at.append(time.monotonic())
        owned.update(p.partition for p in partitions)
        reporter.update(now=True, assigned=True, partitions=sorted(owned))

    def on_revoke(_consumer: Any, partitions: list[TopicPartition]) -> None:
        owned.difference_update(p.partition for p in partitions)
        reporter.update(now=True, partitions=sorted(owned))

    # on_lost: the group moved on without this member (a session that expired): same bookkeeping.
    consumer.subscribe([spec["input_topic"]], on_assign=on_assign, on_revoke=on_revoke, on_lost=on_revoke)
    reporter.update(now=True, phase="running")

    loop = _PipelineLoop(spec, reporter, consumer, producer, crash, crash_record)
    idle_exit_s = float(spec.get("idle_exit_s", 5.0))
    last_batch_at = time.monotonic()
    # Idle time counts from the assignment: after a crash, the group may hand the partitions over
    # only when the dead member's session expires.
    while not assigned_at or time.monotonic() - max(last_batch_at, assigned_at[0]) < idle_exit_s:
        consumed = [m for m in consumer.consume(int(spec.get("records_per_transaction", 10)), timeout=0.5)
                    if m.error() is None]
        # A rebalance callback can run inside consume(), after some of the batch was collected:
        # records of a partition revoked that way come back anyway. They are no longer ours (the
        # next owner reads them from the committed offsets); copying them would commit their
        # copies with no offsets for their partition, and the next owner would copy them again.
        batch = owned_records(consumed, consumer.assignment())
        if len(batch) < len(consumed):
            reporter.add(records_of_revoked_partitions=len(consumed) - len(batch))
        if not batch:
            continue
        last_batch_at = time.monotonic()
        loop.batches += 1
        reporter.add(consumed=len(batch))
        if exactly_once:
            loop.copy_in_transaction(batch)
        else:
            loop.copy_then_commit(batch)
    reporter.update(now=True, phase="closing")
    consumer.close()


class _PipelineLoop:
    def __init__(self, spec: dict[str, Any], reporter: StatusReporter, consumer: Any, producer: Any,
                 crash: CrashPoint | None, crash_record: int | None) -> None:
        self.output_topic = spec["output_topic"]
        self.reporter, self.consumer, self.producer = reporter, consumer, producer
        self.crash, self.crash_record = crash, crash_record
        self.batches = 0
        self.records_handled = 0
        self.process_delay_s = float(spec.get("process_delay_s", 0.0))

    def _crash_at(self, name: str) -> None:
        if self.crash and self.crash.name == name and self.crash.occurrence == self.batches:
            self.reporter.crash(self.crash)

    def _produce_batch(self, batch: list[Message]) -> None:
        half = max(1, len(batch) // 2)
        for position, message in enumerate(batch):
            if position == half and self.crash and self.crash.name == "mid_transaction" \
                    and self.crash.occurrence == self.batches:
                self.producer.flush(CALL_TIMEOUT_S)  # half the copies are in the output log, uncommitted
                self.reporter.crash(self.crash)
            self.records_handled += 1
            if self.crash_record is not None and self.records_handled == self.crash_record:
                self.reporter.crash(self.crash or "at_random_record", record=self.records_handled)
            if self.process_delay_s:
                time.sleep(self.process_delay_s)  # a slow transform, so a demo can strike mid-copy
            copy = record_value(record_id(message.value()), "copied")  # the "transform"
            while True:
                try:
                    self.producer.produce(self.output_topic, copy, key=message.key())
                    break
                except BufferError:
                    self.producer.poll(0.1)  # the client's queue is full: let it drain
            self.reporter.add(produced=1)
            self.producer.poll(0)

    def copy_in_transaction(self, batch: list[Message]) -> None:
        """One transaction: the copies and the input offsets, committed together or not at all."""
        try:
            self.producer.begin_transaction()
            self.reporter.update(now=True, transaction="open")
            self._produce_batch(batch)
            if self.crash and self.crash.name == "before_send_offsets" and self.crash.occurrence == self.batches:
                self.producer.flush(CALL_TIMEOUT_S)
                self.reporter.crash(self.crash)
            # The next offset to read (last copied + 1) of each partition in the batch — exactly
            # what must be committed; the group metadata lets the broker fence a zombie of an
            # older generation.
            positions = offsets_after(batch)
            self.reporter.update(now=True, step="send_offsets_to_transaction")
            _retrying(lambda: self.producer.send_offsets_to_transaction(
                positions, self.consumer.consumer_group_metadata(), CALL_TIMEOUT_S), self.reporter)
            self._crash_at("before_commit")
            self.reporter.update(now=True, step="commit_transaction")
            _retrying(lambda: self.producer.commit_transaction(CALL_TIMEOUT_S), self.reporter)
            self.reporter.update(step="consume")
        except KafkaException as raised:
            error = raised.args[0]
            # Abortable — or retriable but still failing after every retry (a coordinator that
            # stays away): a transaction that is not committed can always be aborted and redone.
            # E.g. after a broker outage longer than session.timeout.ms the group has dropped this
            # member, and the offsets are refused (UNKNOWN_MEMBER_ID): abort, rewind, carry on.
            if error.txn_requires_abort() or error.retriable():
                # Abortable: roll the transaction back, and rewind the consumer to the last
                # committed offsets so the same input is copied again in the next transaction.
                self.reporter.update(now=True, transaction="aborting", **describe_kafka_error(error))
                self.producer.abort_transaction(CALL_TIMEOUT_S)
                self._rewind_to_committed()
                self.reporter.add(transactions_aborted=1)
                self.reporter.update(now=True, transaction="aborted")
                return
            # Fatal (fenced by a newer instance, …) or an error with no flag: this producer can do
            # nothing more. Exit; run_worker reports the error. A new instance will take over.
            self.producer.poll(0.5)  # serve error_cb, which names the fatal error behind a "_FATAL" answer
            self.reporter.update(now=True, transaction="failed")
            raise
        self.reporter.add(transactions_committed=1, committed=len(batch))
        self.reporter.update(now=True, transaction="committed", last_offset=_next_offset(positions))

    def copy_then_commit(self, batch: list[Message]) -> None:
        """At-least-once: write the copies, wait for them, then commit the input offsets."""
        self._produce_batch(batch)
        remaining = self.producer.flush(CALL_TIMEOUT_S)
        if remaining:
            raise KafkaException(f"{remaining} copies were not acknowledged within {CALL_TIMEOUT_S:.0f} s")
        self._crash_at("before_send_offsets")
        self._crash_at("before_commit")
        offsets = self.consumer.commit(asynchronous=False)
        self.reporter.add(committed=len(batch))
        self.reporter.update(now=True, last_offset=_next_offset(offsets or []))

    def _rewind_to_committed(self) -> None:
        if not self.consumer.assignment():
            return  # revoked meanwhile: the next owner starts from the committed offsets
        try:
            rewind_to_committed(self.consumer, CALL_TIMEOUT_S)
        except EoslabError as unreadable:
            # Not knowing where to restart: exit as stuck (a plain message, so fatal), and a new
            # instance reads the committed offsets.
            raise KafkaException(str(unreadable)) from None


def owned_records(batch: list[Message], assignment: list[TopicPartition]) -> list[Message]:
    """The records of ``batch`` whose partition is still in ``assignment``, in order."""
    assigned = {(partition.topic, partition.partition) for partition in assignment}
    return [message for message in batch if (message.topic(), message.partition()) in assigned]


def offsets_after(batch: list[Message]) -> list[TopicPartition]:
    """Per partition in ``batch``, the offset after its last record: what a commit of it records."""
    following: dict[tuple[str, int], int] = {}
    for message in batch:
        key = (message.topic(), message.partition())
        following[key] = max(following.get(key, 0), message.offset() + 1)
    return [TopicPartition(topic, partition, offset) for (topic, partition), offset in sorted(following.items())]


def _next_offset(positions: list[TopicPartition]) -> int | None:
    valid = [p.offset for p in positions if p.offset >= 0]
    return max(valid) if valid else None


def _retrying(call: Any, reporter: StatusReporter) -> None:
    """Retriable errors (a timeout, a coordinator moving): call again, a bounded number of times."""
    for attempt in range(RETRIES_OF_ONE_CALL):
        try:
            with _deadline(reporter):
                call()
            return
        except KafkaException as raised:
            error = raised.args[0]
            if not error.retriable() or attempt == RETRIES_OF_ONE_CALL - 1:
                raise
            reporter.add(retries=1)
            reporter.update(now=True, last_retriable_error=f"{error.name()}: {error.str()}")


@contextmanager
def _deadline(reporter: StatusReporter) -> Iterator[None]:
    """A deadline the client cannot miss: past it, the worker reports a fatal error and exits.

    A timeout passed to a client call is a request, not a guarantee (librdkafka issue 5456: the
    timeout of send_offsets_to_transaction is not enforced while it looks for the group
    coordinator). A call blocked in C cannot be interrupted from Python, and no other thread may
    abort the transaction under it. The exit is safe, and it is exactly-once's answer to any stuck
    instance: a new instance with the same transactional.id calls init_transactions, which aborts
    the transaction left open, and the input is read again from the committed offsets.
    """
    limit_s = CALL_TIMEOUT_S + STUCK_CALL_GRACE_S

    def give_up() -> None:
        step = reporter.get("step", "a transactional call")
        reporter.update(now=True, phase="failed", transaction="stuck", fatal=True,
                        error=f"{step} did not return within {limit_s:.0f} s (asked for {CALL_TIMEOUT_S:.0f} s): "
                              "the client is stuck; the worker exits, start a new instance")
        sys.stderr.write(f"{step} stuck for {limit_s:.0f} s: exiting\n")
        sys.stderr.flush()
        os._exit(EXIT_FATAL_KAFKA_ERROR)

    timer = threading.Timer(limit_s, give_up)
    timer.daemon = True  # never keeps the worker alive
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


if __name__ == "__main__":
    run_worker("pipeline", main)
