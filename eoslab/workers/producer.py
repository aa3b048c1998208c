"""A producer worker: sends ``count`` records with ids ``first_id..``, optionally in transactions.

Run by :func:`eoslab.workers.start_producer` as ``python -m eoslab.workers.producer --spec '<json>'``.
The Kafka configuration is exactly the one given (plus the address and the quiet logger): whether
the producer is idempotent or transactional is the lesson, so nothing here decides it. With a
``transactional.id`` the records go in transactions of ``records_per_transaction``.

Crash points (the worker SIGKILLs itself there, see :mod:`eoslab.workers.protocol`):

- ``at_record:N`` — just before sending the record with id ``first_id + N`` (N records were handed
  to the client; those still in its queue die with it);
- ``mid_transaction:T`` — in transaction T, after half its records were written to the broker;
- ``after_send_before_commit:T`` — in transaction T, after all its records were written, before
  ``commit_transaction()``.

Status fields: sent, acked, failed, transaction, transactions_committed, transactions_aborted,
first_id, last_offset, error, fatal.
"""

from __future__ import annotations

import time
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message

from ..kafka.clients import make_producer
from ..lessons.verifier import record_value
from .protocol import (
    CrashPoint,
    StatusReporter,
    client_callbacks,
    describe_kafka_error,
    run_worker,
)

TRANSACTION_CALL_TIMEOUT_S = 30.0
RETRIES_OF_ONE_CALL = 5


def main(spec: dict[str, Any], reporter: StatusReporter) -> None:
    crash = CrashPoint.parse(spec.get("crash_point"), "producer")
    config: dict[str, Any] = dict(spec.get("config") or {})
    transactional = "transactional.id" in config
    topic, count, first_id = spec["topic"], int(spec["count"]), int(spec.get("first_id", 0))
    per_transaction = max(1, int(spec.get("records_per_transaction", 10)))
    interval_s = float(spec.get("interval_s", 0.0))
    payload = spec.get("payload", "")
    if crash and crash.name != "at_record" and not transactional:
        raise ValueError(f"crash point {crash.name} needs a transactional producer (a transactional.id in config)")
    reporter.update(now=True, first_id=first_id, sent=0, acked=0, failed=0, transactional=transactional,
                    transactions_committed=0, transactions_aborted=0, last_offset=None)

    def on_delivery(error: KafkaError | None, message: Message) -> None:
        if error is None:
            reporter.add(acked=1)
            reporter.update(last_offset=message.offset())
        else:
            reporter.add(failed=1)
            reporter.update(now=True, **describe_kafka_error(error))

    producer = make_producer({**config, **client_callbacks(reporter)}, bootstrap_servers=spec["bootstrap"])
    if transactional:
        reporter.update(now=True, phase="init_transactions")
        # Registers the transactional.id with the coordinator: bumps the epoch (fencing any older
        # instance) and aborts a transaction a previous instance left open.
        producer.init_transactions(TRANSACTION_CALL_TIMEOUT_S)
    reporter.update(now=True, phase="running")

    def send(record: int) -> None:
        while True:
            try:
                producer.produce(topic, record_value(record, payload), on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.1)  # the client's queue is full: let deliveries drain it, then retry
        reporter.add(sent=1)
        producer.poll(0)
        if interval_s:
            time.sleep(interval_s)  # a slow producer, so a demo can pause or kill it mid-stream

    records = list(range(first_id, first_id + count))
    if not transactional:
        for index, record in enumerate(records):
            if crash and index == crash.occurrence:
                reporter.crash(crash)
            send(record)
        producer.flush(TRANSACTION_CALL_TIMEOUT_S)
        reporter.update(now=True, phase="flushed")
        return

    batches = [records[i:i + per_transaction] for i in range(0, len(records), per_transaction)]
    index = 0
    for number, batch in enumerate(batches, start=1):
        crash_here = crash if crash and crash.name != "at_record" and crash.occurrence == number else None
        while not _one_transaction(producer, batch, number, index, crash, crash_here, send, reporter):
            pass  # aborted on an abortable error: send the same records again in a new transaction
        index += len(batch)


def _one_transaction(producer: Any, batch: list[int], number: int, index: int, crash: CrashPoint | None,
                     crash_here: CrashPoint | None, send: Any, reporter: StatusReporter) -> bool:
    """Send ``batch`` in one transaction. True when committed, False when aborted (retry it)."""
    try:
        producer.begin_transaction()
        reporter.update(now=True, transaction="open", transaction_number=number)
        for offset_in_batch, record in enumerate(batch):
            if crash and crash.name == "at_record" and index + offset_in_batch == crash.occurrence:
                reporter.crash(crash)
            if crash_here and crash_here.name == "mid_transaction" and offset_in_batch == max(1, len(batch) // 2):
                producer.flush(TRANSACTION_CALL_TIMEOUT_S)  # the first half is in the log, uncommitted
                reporter.crash(crash_here)
            send(record)
        if crash_here and crash_here.name == "after_send_before_commit":
            producer.flush(TRANSACTION_CALL_TIMEOUT_S)  # every record is in the log, none committed
            reporter.crash(crash_here)
        _retrying(lambda: producer.commit_transaction(TRANSACTION_CALL_TIMEOUT_S))
        reporter.add(transactions_committed=1)
        reporter.update(now=True, transaction="committed")
        return True
    except KafkaException as raised:
        error = raised.args[0]
        if error.txn_requires_abort():
            # Abortable (e.g. a record failed): the transaction can be rolled back and redone.
            reporter.update(now=True, transaction="aborting", **describe_kafka_error(error))
            producer.abort_transaction(TRANSACTION_CALL_TIMEOUT_S)
            reporter.add(transactions_aborted=1)
            reporter.update(now=True, transaction="aborted")
            return False
        # Fatal (fenced by a newer instance, out-of-order sequence, …) or unknown: this producer
        # instance can do nothing more; run_worker reports it and exits.
        producer.poll(0.5)  # serve error_cb, which names the fatal error behind a "_FATAL" answer
        reporter.update(now=True, transaction="failed")
        raise


def _retrying(call: Any) -> None:
    """Call again while the error is retriable (e.g. a commit that timed out), a bounded number of times."""
    for attempt in range(RETRIES_OF_ONE_CALL):
        try:
            call()
            return
        except KafkaException as raised:
            if not raised.args[0].retriable() or attempt == RETRIES_OF_ONE_CALL - 1:
                raise


if __name__ == "__main__":
    run_worker("producer", main)
