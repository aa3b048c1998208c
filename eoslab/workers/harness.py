"""Run a learner's exactly-once batch function in a worker that is SIGKILLed and restarted; verify.

The function under test (assignment 06) has this contract::

    process_batch(consumer, producer, output_topic, transform, max_records) -> int

``consumer`` is assigned the input partitions (read_committed, no auto commit); ``producer`` is
transactional and ``init_transactions()`` has run. One call consumes up to ``max_records``, writes
``transform(value)`` of each to ``output_topic`` and commits the copies *and* the consumed offsets in
one transaction; it returns how many input records that transaction covered (0: nothing to read, or
aborted). :func:`run_under_kills` calls it in a loop in a real subprocess
(:mod:`eoslab.workers.learner_pipeline`) and, per a seeded :func:`kill_plan`, kills that process
with SIGKILL just before or after a producer call, restarts it (same group, same
``transactional.id``), and finally lets one run drain the input. Then it reads the output
read_committed and compares it with the input by id (:func:`eoslab.lessons.verifier.verify`) — the same
method as Kafka's own exactly-once system test (copy, kill, compare).

Why a subprocess and a source file: a function defined in a notebook cannot be pickled by
reference into another process, so :func:`module_source` writes the function's source (with the
imports, constants and notebook helpers it names) into a temporary module the worker imports.

Guarantees: every run and the whole check have deadlines; a function that raises, hangs or returns
something other than an int ends the check with a one-line reason in :attr:`HarnessResult.errors`
instead of an exception (only a function that is still the stub raises, at once); topics are deleted
afterwards. With ``abortable_on_commit=N`` the N-th
``commit_transaction()`` of the first run raises an abortable error, and the producer then behaves
as librdkafka's does: every call but ``abort_transaction()`` keeps failing until it is called.

Not covered here: rebalances (the worker uses ``assign()``), broker crashes, retriable errors. The
course's own copier meets rebalances, zombie consumers and broker restarts in
:func:`eoslab.workers.group_run.run_group_copiers`.
"""

from __future__ import annotations

import importlib.util
import inspect
import random
import tempfile
import textwrap
import time
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from ..errors import EoslabError
from ..kafka.clients import (
    create_topics,
    delete_topics,
    make_consumer,
    make_producer,
    unique_name,
)
from ..kafka.connect import bootstrap as default_bootstrap
from ..lessons.txn import crafted_error
from ..lessons.unwritten import NotDoneYet, is_written
from ..lessons.verifier import DeliveryReport, read_ids, record_id, record_value, verify

CALL_TIMEOUT_S = 20.0
IDLE_EXIT_S = 1.0  # a run ends once the function found nothing to copy for this long (spec "idle_exit_s")
KILLED_METHODS = ("produce", "send_offsets_to_transaction", "commit_transaction")


# ---- where to kill ---------------------------------------------------------------------------

@dataclass(frozen=True)
class KillPoint:
    """Kill the worker ``when`` ("before"/"after") its ``occurrence``-th call of ``method`` (1-based, per run)."""

    method: str
    when: str
    occurrence: int

    def __str__(self) -> str:
        return f"{self.when} {self.method} #{self.occurrence}"


def kill_plan(seed: int, kills: int, max_records: int) -> list[KillPoint]:
    """Seeded kill points. The first three are always the moments a wrong loop gets wrong: right
    after a commit (offsets committed outside the transaction are not yet committed: duplicates),
    right before one (offsets committed early: loss), and between two produced records."""
    rng = random.Random(seed)
    kinds = [("commit_transaction", "after"), ("commit_transaction", "before"), ("produce", "after")]
    plan = []
    for number in range(kills):
        method, when = kinds[number] if number < len(kinds) else rng.choice(kinds)
        occurrence = rng.randint(2, 2 * max_records) if method == "produce" else rng.randint(1, 2)
        plan.append(KillPoint(method, when, occurrence))
    return plan


# ---- the function's source as a module --------------------------------------------------------

def module_source(function: Callable[..., Any]) -> str:
    """A module defining ``function``: its source, plus what it names from its globals — modules
    (``import x as y``), importable functions and classes (``from m import n``), notebook functions
    (their source, recursively) and plain constants."""
    lines = ["# Written by eoslab.workers.harness: the function under test and what it uses from its notebook.",
             "from __future__ import annotations"]
    bodies: list[str] = []
    _collect(function, lines, bodies, seen=set())
    return "\n".join(lines) + "\n\n\n" + "\n\n\n".join(reversed(bodies)) + "\n"


def _names_used(function: Callable[..., Any]) -> set[str]:
    names: set[str] = set()
    pending = [function.__code__]
    while pending:
        code = pending.pop()
        names.update(code.co_names)
        pending.extend(const for const in code.co_consts if isinstance(const, types.CodeType))
    return names


def _collect(function: Callable[..., Any], lines: list[str], bodies: list[str], seen: set[str]) -> None:
    seen.add(function.__name__)
    try:
        source = textwrap.dedent(inspect.getsource(function))
    except (OSError, TypeError):
        raise EoslabError(f"the source of {function.__name__} cannot be found; define it in a cell "
                          f"(not with exec) and run that cell again") from None
    bodies.append(source)
    module_globals = getattr(function, "__globals__", {})
    for name in sorted(_names_used(function)):
        if name in seen or name not in module_globals:
            continue
        value = module_globals[name]
        seen.add(name)
        if isinstance(value, types.ModuleType):
            lines.append(f"import {value.__name__} as {name}")
        elif _importable_from(value):
            lines.append(f"from {_importable_from(value)} import {value.__qualname__} as {name}")
        elif inspect.isfunction(value):
            _collect(value, lines, bodies, seen)
        elif isinstance(value, (int, float, str, bytes, bool, type(None))):
            lines.append(f"{name} = {value!r}")


def _importable_from(value: Any) -> str | None:
    """A module that exposes ``value`` under its own name (``KafkaException`` lives in ``cimpl``, an
    internal module, but is imported from ``confluent_kafka``); None for notebook objects."""
    module, qualname = getattr(value, "__module__", None), getattr(value, "__qualname__", "")
    if module in (None, "__main__") or not qualname or "." in qualname or "<" in qualname:
        return None
    for candidate in (module, module.split(".")[0], "confluent_kafka"):
        try:
            if getattr(importlib.import_module(candidate), qualname, None) is value:
                return candidate
        except ImportError:
            continue
    return None


# ---- the result --------------------------------------------------------------------------------

@dataclass
class RunOutcome:
    """One worker run: where it was meant to die and how it really ended."""

    kill_point: str | None
    ended: str
    committed: int
    aborts: int
    killed: bool


@dataclass
class HarnessResult:
    """What :func:`run_under_kills` found: the verifier's report plus how each run went."""

    report: DeliveryReport | None
    runs: list[RunOutcome] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    consumer_commits: int = 0  # calls of consumer.commit() (offsets committed outside the transaction)
    elapsed_s: float = 0.0

    @property
    def kills(self) -> int:
        return sum(run.killed for run in self.runs)

    @property
    def aborts(self) -> int:
        return sum(run.aborts for run in self.runs)

    @property
    def exactly_once(self) -> bool:
        return not self.errors and self.report is not None and self.report.exactly_once

    def summary(self) -> str:
        head = (f"{len(self.runs)} runs, {self.kills} killed, {self.aborts} aborts, "
                f"{self.consumer_commits} consumer.commit() calls, {self.elapsed_s:.1f} s")
        found = (f"sent {self.report.sent}, received {self.report.received}: {len(self.report.lost)} lost, "
                 f"{self.report.extra_copies} duplicated"
                 if self.report else "output not verified")
        return "; ".join([head, found, *self.errors])


# ---- the parent side ---------------------------------------------------------------------------

def run_under_kills(function: Callable[..., Any], *, records: int = 200, kills: int = 3, seed: int = 0,
                    abortable_on_commit: int | None = None, max_records: int = 20, timeout_s: float = 40.0,
                    bootstrap: str | None = None) -> HarnessResult:
    """Copy ``records`` records with ``function`` in a worker killed ``kills`` times; verify the output.

    Raises :class:`~eoslab.lessons.unwritten.NotDoneYet` at once while ``function`` is still the
    exercise's stub (a graded cell's ``when_written`` turns that into a "not done yet" note).
    """
    if not is_written(function):
        raise NotDoneYet(f"write {function.__name__}()")
    from .handle import Worker  # the worker machinery is only needed here

    started = time.monotonic()
    deadline = started + timeout_s
    address = bootstrap or default_bootstrap()
    input_topic, output_topic = unique_name("eos-in"), unique_name("eos-out")
    create_topics([input_topic, output_topic], bootstrap_servers=address)
    result = HarnessResult(report=None)
    module_dir = tempfile.TemporaryDirectory(prefix="eoslab-harness-")
    try:
        module_path = write_module(function, Path(module_dir.name))
        produce_input(input_topic, records, address)
        spec = copier_spec(function, module_path, input_topic, output_topic, records, max_records=max_records,
                           bootstrap=address)
        plan: list[KillPoint | None] = [*kill_plan(seed, kills, max_records), None]
        for number, kill_point in enumerate(plan):
            remaining = deadline - time.monotonic()
            if remaining <= 1:
                result.errors.append(f"not finished within {timeout_s:.0f} s (after {number} runs)")
                break
            run_spec = {**spec, "max_lifetime_s": remaining,
                        "kill": kill_point and vars(kill_point),
                        "abortable_on_commit": abortable_on_commit if number == 0 else None}
            worker = Worker("learner_pipeline", run_spec, name=f"run {number + 1}")
            try:
                status = worker.wait(remaining + 2)
            except TimeoutError:
                worker.close()
                result.errors.append(f"run {number + 1} did not end within the {timeout_s:.0f} s budget")
                break
            finally:
                worker.close()
            killed = status.exit_signal == "SIGKILL" and status.crashed_at is not None
            result.consumer_commits += sum(1 for event in worker.events() if event.get("event") == "consumer_commit")
            result.runs.append(RunOutcome(str(kill_point) if kill_point else None, status.describe(),
                                          status.committed, status.transactions_aborted, killed))
            if status.phase == "failed" or (status.exit_code not in (0, None) and not killed):
                tail = [line for line in worker.stderr_tail(40) if line.strip() and not line.startswith("%")]
                reason = status.error or (tail[-1] if tail else f"exit code {status.exit_code}")
                result.errors.append(f"run {number + 1} failed: {reason}")
                break
        if result.runs:
            remaining = max(2.0, deadline - time.monotonic())
            result.report = verify(range(records), read_ids(output_topic, "read_committed", remaining,
                                                            bootstrap_servers=address))
    finally:
        module_dir.cleanup()
        delete_topics([input_topic, output_topic], bootstrap_servers=address)
        result.elapsed_s = time.monotonic() - started
    return result


def write_module(function: Callable[..., Any], directory: Path) -> Path:
    """Write :func:`module_source` of ``function`` into ``directory``; the worker imports that file."""
    path = directory / "learner_pipeline_under_test.py"
    path.write_text(module_source(function), encoding="utf-8")
    return path


def copier_spec(function: Callable[..., Any], module_path: Path, input_topic: str, output_topic: str,
                records: int, *, max_records: int = 20, bootstrap: str | None = None) -> dict[str, Any]:
    """The worker spec of a copier running ``function``: a new group and transactional.id, kept by
    every restart that reuses the spec (so a restart resumes and fences the previous run)."""
    return {"module_path": str(module_path), "function": function.__name__, "input_topic": input_topic,
            "output_topic": output_topic, "group": unique_name("eos-copier"),
            "transactional_id": unique_name("eos-copier"), "bootstrap": bootstrap or default_bootstrap(),
            "max_records": max_records, "input_records": records, "kill": None, "abortable_on_commit": None}


def produce_input(topic: str, records: int, address: str | None = None) -> None:
    """Write ids ``0..records-1`` to ``topic``, each exactly once, acknowledged before this returns."""
    address = address or default_bootstrap()
    producer = make_producer({
        "enable.idempotence": True,  # the input itself must hold each id exactly once
        "acks": "all",  # every input record is on the broker before the copier starts
    }, bootstrap_servers=address)
    for number in range(records):
        producer.produce(topic, record_value(number), key=str(number).encode())
    if producer.flush(CALL_TIMEOUT_S):
        raise EoslabError(f"the {records} input records were not acknowledged within {CALL_TIMEOUT_S:.0f} s; "
                          f"check the broker with `eoslab broker status`")


# ---- the worker side (run by eoslab.workers.learner_pipeline) ------------------------------------

def worker_main(spec: dict[str, Any], reporter: Any) -> None:
    """Load the function, build its clients, call it in a loop until the input is drained."""
    from .protocol import client_callbacks  # worker-side only

    module_spec = importlib.util.spec_from_file_location("learner_pipeline_under_test", spec["module_path"])
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    function = getattr(module, spec["function"])
    consumer = make_consumer({
        "group.id": spec["group"],  # the offsets committed in the transactions belong to this group
        "enable.auto.commit": False,  # offsets move only with a committed transaction
        "auto.offset.reset": "earliest",  # nothing committed yet: start at the first input record
        "isolation.level": "read_committed",  # never copy records of aborted upstream transactions
        **client_callbacks(reporter),
    }, bootstrap_servers=spec["bootstrap"])
    partitions = [TopicPartition(spec["input_topic"], 0)]
    # assign(), not subscribe(): a restarted copier resumes at the committed offsets at once, with
    # no group rebalance to wait for (the kills are the lesson, not the group protocol).
    consumer.assign(partitions)
    producer = make_producer({
        "transactional.id": spec["transactional_id"],  # the restarted copier fences the killed one
        "enable.idempotence": True,  # implied by transactional.id; stated because it matters
        "acks": "all",  # implied too: a copy counts once every in-sync replica has it
        "transaction.timeout.ms": 60000,  # the default; a restart aborts a killed run's transaction sooner
        **client_callbacks(reporter),
    }, bootstrap_servers=spec["bootstrap"])
    reporter.update(now=True, phase="init_transactions", committed=0, transactions_aborted=0)
    producer.init_transactions(CALL_TIMEOUT_S)  # aborts what the killed run left open
    kill = KillPoint(**spec["kill"]) if spec.get("kill") else None
    crash = (lambda point: reporter.crash(str(point)))  # reports the point, then SIGKILLs this process
    watched_producer = _WatchedProducer(producer, kill, crash, reporter, spec.get("abortable_on_commit"))
    watched_consumer = _WatchedConsumer(consumer, reporter)

    transform_delay_s = float(spec.get("transform_delay_s", 0.0))

    def transform(value: bytes | None) -> bytes:
        if transform_delay_s:
            time.sleep(transform_delay_s)  # a slow transform, so a kill from a panel can land mid-copy
        return record_value(record_id(value), "copied")

    reporter.update(now=True, phase="running")
    idle_since: float | None = None
    while True:
        copied = function(watched_consumer, watched_producer, spec["output_topic"], transform, spec["max_records"])
        if not isinstance(copied, int) or isinstance(copied, bool):
            raise TypeError(f"{spec['function']} returned {copied!r}; it must return how many input records "
                            f"its transaction covered (an int, 0 when there was nothing or it aborted)")
        reporter.add(committed=copied)
        if copied:
            idle_since = None
            continue
        try:
            committed = consumer.committed(partitions, timeout=CALL_TIMEOUT_S)
        except KafkaException as raised:
            if not raised.args[0].retriable():
                raise
            committed = []  # the coordinator is loading or moving (a fresh broker): ask again next round
        if committed and all(tp.offset >= spec["input_records"] for tp in committed):
            break  # the group's committed offsets reached the end of the input: drained
        idle_since = idle_since or time.monotonic()
        if time.monotonic() - idle_since > float(spec.get("idle_exit_s", IDLE_EXIT_S)):
            break  # nothing to read, though the offsets say otherwise: the function's offsets are off
    reporter.update(now=True, phase="closing")


class _WatchedProducer:
    """The real transactional producer, with a kill point and an optional injected abortable error."""

    def __init__(self, producer: Any, kill: KillPoint | None, crash: Callable[[KillPoint], None], reporter: Any,
                 abortable_on_commit: int | None) -> None:
        self._producer, self._kill, self._crash, self._reporter = producer, kill, crash, reporter
        self._abortable_on_commit = abortable_on_commit
        self._calls: dict[str, int] = {}
        self._must_abort: KafkaError | None = None

    def __getattr__(self, name: str) -> Any:
        real = getattr(self._producer, name)
        if not callable(real):
            return real

        def call(*args: Any, **kwargs: Any) -> Any:
            count = self._calls[name] = self._calls.get(name, 0) + 1
            kill = self._kill if self._kill and self._kill.method == name and self._kill.occurrence == count else None
            if kill and kill.when == "before":
                self._crash(kill)
            self._inject(name, count)
            answer = real(*args, **kwargs)
            if name == "produce":
                self._reporter.add(produced=1)
            elif name == "begin_transaction":
                self._reporter.update(now=True, transaction="open")  # a pause strike waits for this
            elif name == "abort_transaction":
                self._reporter.add(transactions_aborted=1)
                self._reporter.update(now=True, transaction="aborted")
            elif name == "commit_transaction":
                self._reporter.add(transactions_committed=1)
                self._reporter.update(now=True, transaction="committed")
            if kill and kill.when == "after":
                self._crash(kill)
            return answer

        return call

    def _inject(self, name: str, count: int) -> None:
        if name == "abort_transaction":
            self._must_abort = None  # the one call that leaves the abortable state, as in librdkafka
            return
        if name == "commit_transaction" and count == self._abortable_on_commit:
            self._must_abort = crafted_error("abortable", reason="injected: a copy was refused; "
                                                                  "the transaction must be aborted")
        if self._must_abort is None or name in ("poll", "flush", "list_topics"):
            return
        if name == "begin_transaction":
            raise KafkaException(KafkaError(KafkaError._STATE, "a transaction is still open (it failed): "
                                                               "abort_transaction() first"))
        raise KafkaException(self._must_abort)


class _WatchedConsumer:
    """The real consumer; each commit() call is reported (offsets committed outside the transaction)."""

    def __init__(self, consumer: Any, reporter: Any) -> None:
        self._consumer, self._reporter = consumer, reporter

    def __getattr__(self, name: str) -> Any:
        real = getattr(self._consumer, name)
        if name != "commit":
            return real

        def commit(*args: Any, **kwargs: Any) -> Any:
            self._reporter.event("consumer_commit")
            return real(*args, **kwargs)

        return commit

