"""Start workers from a notebook: one function per kind, every Kafka setting passed explicitly.

The delivery settings are the lesson, so they are arguments (``config``, ``commit``, ``mode``), never
hidden defaults. ``bootstrap`` is the broker's address, or the fault proxy's (``proxy.bootstrap``) to
put the worker's traffic through injected faults; None means :func:`eoslab.bootstrap`.
Every worker stops itself after ``max_lifetime_s``.
"""

from __future__ import annotations

import tempfile
from typing import Any

from ..errors import EoslabError
from ..kafka.clients import unique_name
from ..kafka.connect import bootstrap as default_bootstrap
from .handle import Worker
from .protocol import CrashPoint

DEFAULT_LIFETIME_S = 120.0


def _checked(crash_point: str | None, kind: str) -> str | None:
    try:
        CrashPoint.parse(crash_point, kind)  # fail in the notebook, not silently in the worker
    except ValueError as error:
        raise EoslabError(str(error)) from None
    return crash_point


def start_producer(topic: str, count: int, config: dict[str, Any], *, crash_point: str | None = None,
                   bootstrap: str | None = None, first_id: int = 0, records_per_transaction: int = 10,
                   interval_s: float = 0.0, payload: str = "", max_lifetime_s: float = DEFAULT_LIFETIME_S,
                   name: str | None = None) -> Worker:
    """Send ``count`` records with ids ``first_id..`` to ``topic``; transactional if ``config`` has a
    ``transactional.id`` (``records_per_transaction`` per transaction). ``interval_s`` slows it down.

    Crash points: ``at_record:N``, ``mid_transaction:T``, ``after_send_before_commit:T``.
    """
    spec = {"topic": topic, "count": count, "config": config, "crash_point": _checked(crash_point, "producer"),
            "bootstrap": bootstrap or default_bootstrap(), "first_id": first_id,
            "records_per_transaction": records_per_transaction, "interval_s": interval_s, "payload": payload,
            "max_lifetime_s": max_lifetime_s}
    return Worker("producer", spec, name=name or "producer")


def start_consumer(topic: str, group: str, config: dict[str, Any], *, commit: str = "after_process",
                   crash_point: str | None = None, bootstrap: str | None = None,
                   processed_file: str | None = None, idle_exit_s: float = 3.0, max_records: int | None = None,
                   process_delay_s: float = 0.0, member: str | None = None,
                   max_lifetime_s: float = DEFAULT_LIFETIME_S, name: str | None = None) -> Worker:
    """Consume ``topic`` in ``group``, "process" each record (append its id to ``processed_file``)
    and commit per ``commit``: ``"after_process"`` (at-least-once), ``"before_process"``
    (at-most-once) or ``"none"``. Pass a previous worker's ``processed_file`` (or use
    :meth:`Worker.restart`) to count processing across a crash.

    Crash points: ``after_process_before_commit:N``, ``after_commit_before_process:N``, ``at_record:N``.
    ``member`` (optional) makes the worker a static group member of that name: a restart with the
    same name takes the partitions back at once instead of after the 6 s session timeout; give
    concurrent consumers of one group different names. Leave it None for broker-crash demos.
    """
    if crash_point and crash_point.startswith("after_commit_before_process") and commit != "before_process":
        raise EoslabError("crash point after_commit_before_process needs commit='before_process'")
    if crash_point and crash_point.startswith("after_process_before_commit") and commit == "before_process":
        raise EoslabError("crash point after_process_before_commit needs commit='after_process'")
    if processed_file is None:
        processed_file = tempfile.mkstemp(prefix=f"{unique_name('processed')}-", suffix=".txt")[1]
    spec = {"topic": topic, "group": group, "config": config, "commit": commit,
            "crash_point": _checked(crash_point, "consumer"), "bootstrap": bootstrap or default_bootstrap(),
            "processed_file": processed_file, "idle_exit_s": idle_exit_s, "max_records": max_records,
            "process_delay_s": process_delay_s, "member": member, "max_lifetime_s": max_lifetime_s}
    return Worker("consumer", spec, name=name or "consumer")


def start_pipeline(input_topic: str, output_topic: str, group: str, transactional_id: str | None = None, *,
                   mode: str = "exactly_once", consumer_config: dict[str, Any] | None = None,
                   producer_config: dict[str, Any] | None = None, crash_point: str | None = None,
                   seed: int = 0, random_within: int = 50, records_per_transaction: int = 10,
                   process_delay_s: float = 0.0, bootstrap: str | None = None, idle_exit_s: float = 5.0, member: str | None = None,
                   max_lifetime_s: float = DEFAULT_LIFETIME_S, name: str | None = None) -> Worker:
    """Copy ``input_topic`` to ``output_topic``: ``mode="exactly_once"`` (offsets committed in the
    producer's transaction; needs ``transactional_id``) or ``"at_least_once"`` (commit after).

    Crash points: ``mid_transaction:T``, ``before_send_offsets:T``, ``before_commit:T``,
    ``at_random_record`` (a record chosen by ``seed`` among the first ``random_within``).
    ``process_delay_s`` slows the transform down per record, so a demo can strike mid-copy.
    """
    if mode == "exactly_once" and not transactional_id:
        raise EoslabError("an exactly-once pipeline needs a transactional_id, e.g. unique_name('copier')")
    spec = {"input_topic": input_topic, "output_topic": output_topic, "group": group,
            "transactional_id": transactional_id, "mode": mode, "consumer_config": consumer_config or {},
            "producer_config": producer_config or {}, "crash_point": _checked(crash_point, "pipeline"),
            "seed": seed, "random_within": random_within, "records_per_transaction": records_per_transaction,
            "process_delay_s": process_delay_s, "bootstrap": bootstrap or default_bootstrap(),
            "idle_exit_s": idle_exit_s, "member": member, "max_lifetime_s": max_lifetime_s}
    return Worker("pipeline", spec, name=name or "pipeline")
