"""Run a learner's group member (assignment 07's exercise) as several processes in one group; verify.

The function under test has this contract::

    copy_as_member(consumer, producer, input_topic, output_topic, transform, keep_going) -> None

``consumer`` has a ``group.id`` and is not subscribed yet (read_committed, no auto commit, earliest);
``producer`` is transactional, ``init_transactions()`` has run. The function subscribes to
``input_topic``, copies ``transform(value)`` of each record (same key) to ``output_topic`` and
commits copies and consumed offsets together, in transactions that may span several
``consume()`` calls; its rebalance callbacks end the open transaction before partitions leave.
It returns once ``keep_going()`` is False; the worker then closes the consumer (a last revoke).

:func:`run_members` starts ``instances`` workers (:mod:`eoslab.workers.learner_member`), each with
its own ``transactional.id``, in one group on a multi-partition input, and strikes while they copy
(:func:`eoslab.workers.group_run.supervise_group`): SIGKILL and restart, one more member, a pause
past the session timeout (a zombie consumer, paused inside a transaction). Instance 0's first run
also kills itself right after a chosen ``commit_transaction()`` — the moment a loop that commits
offsets outside its transaction copies records twice — and instance 2's first run has one commit
refused with an abortable error, which it must answer by abort and rewind. Then the output is
read read_committed and compared with the input per partition: nothing lost, nothing duplicated,
order kept, each value transformed and each key kept.

Guarantees: the run has a deadline; every worker is closed and both topics deleted afterwards; a
function that is still the stub raises :class:`~eoslab.lessons.unwritten.NotDoneYet` at once.
"""

from __future__ import annotations

import importlib.util
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

from ..errors import EoslabError
from ..kafka.clients import create_topics, delete_topics, make_consumer, make_producer, unique_name
from ..kafka.connect import bootstrap as default_bootstrap
from ..lessons.unwritten import NotDoneYet, is_written
from ..lessons.verifier import read_messages, record_id, record_value
from .group_run import SESSION_TIMEOUT_MS, GroupFault, GroupRunResult, supervise_group, verify_group_copy
from .handle import Worker
from .harness import CALL_TIMEOUT_S, KillPoint, _WatchedConsumer, _WatchedProducer, produce_input, write_module

#: The strikes of a graded run, as fractions of the input committed: a SIGKILL, a new member, a zombie.
GRADED_PLAN = (GroupFault(0.2, "kill", 1), GroupFault(0.4, "join", 0), GroupFault(0.6, "pause", 2))
SELF_KILL = KillPoint("commit_transaction", "after", 2)  # instance 0's first run: offsets outside? copied twice
REFUSED_COMMIT = (2, 2)  # (instance, n): that instance's first run has its n-th commit refused (abortable)
HOLD_AFTER_JOINER_RUNS_S = 1.0  # members wait this long after a new member starts before they copy on
HOLD_MAX_S = 8.0  # and never longer than this
HEARTBEAT_INTERVAL_MS = 1000  # a third of the session timeout or less, so a live member is never dropped


def run_members(function: Callable[..., Any], *, records: int = 900, partitions: int = 6, instances: int = 3,
                plan: tuple[GroupFault, ...] | list[GroupFault] = GRADED_PLAN, copy_delay_s: float = 0.01,
                self_kill: KillPoint | None = SELF_KILL, refused_commit: tuple[int, int] | None = REFUSED_COMMIT,
                timeout_s: float = 90.0, bootstrap: str | None = None) -> GroupRunResult:
    """Copy ``records`` records with ``instances`` processes running ``function`` as one group; verify.

    ``refused_commit=(instance, n)``: that instance's first run meets an abortable error at its
    n-th ``commit_transaction()``, and every call but ``abort_transaction()`` fails until it
    aborts (librdkafka's rule): the function must abort, rewind and go on. Besides the verifier's
    ids, every output record must hold ``transform(value)`` under its input record's key.
    """
    if not is_written(function):
        raise NotDoneYet(f"write {function.__name__}()")
    started = time.monotonic()
    deadline = started + timeout_s
    address = bootstrap or default_bootstrap()
    input_topic, output_topic = unique_name("members-in"), unique_name("members-out")
    group = unique_name("members")
    result = GroupRunResult(records, partitions, instances)
    create_topics([input_topic, output_topic], partitions=partitions, bootstrap_servers=address)
    module_dir = tempfile.TemporaryDirectory(prefix="eoslab-members-")
    try:
        module_path = write_module(function, Path(module_dir.name))
        stop_file = Path(module_dir.name) / "stop"
        produce_input(input_topic, records, address)
        first_runs = set(range(instances + sum(fault.kind == "join" for fault in plan)))

        hold_file = Path(module_dir.name) / "hold"

        def start(number: int) -> Worker:
            joiner = number >= instances and number in first_runs
            if joiner:
                # The members stop inside their next transform() until the new member has joined:
                # each has a transaction open and copies in it when the rebalance revokes its
                # partitions, which is what on_revoke must deal with (else it could go unseen).
                hold_file.touch()
            first_run = number in first_runs
            first_runs.discard(number)
            kill = self_kill if number == 0 and first_run else None
            refused = refused_commit[1] if refused_commit and number == refused_commit[0] and first_run else None
            worker = Worker("learner_member", {
                "module_path": str(module_path), "function": function.__name__, "input_topic": input_topic,
                "output_topic": output_topic, "group": group,
                "transactional_id": f"{group}-{number}",  # one per instance, kept by its restarts (KIP-447)
                "bootstrap": address, "copy_delay_s": copy_delay_s, "stop_file": str(stop_file),
                "kill": kill and vars(kill), "abortable_on_commit": refused, "hold_file": str(hold_file),
                "max_lifetime_s": max(5.0, deadline - time.monotonic())},
                name=f"member {number}")
            if joiner:
                threading.Thread(target=_release_when_running, args=(worker, hold_file), daemon=True).start()
            return worker

        supervise_group(start, result, list(plan), group=group, input_topic=input_topic, started=started,
                        deadline=deadline, timeout_s=timeout_s, address=address, on_done=stop_file.touch,
                        stop_on_member_error=True)
        result.report = verify_group_copy(input_topic, output_topic, max(5.0, deadline - time.monotonic()), address)
        result.errors.extend(_untransformed(output_topic, max(5.0, deadline - time.monotonic()), address))
    finally:
        module_dir.cleanup()
        delete_topics([input_topic, output_topic], bootstrap_servers=address)
        result.elapsed_s = time.monotonic() - started
    return result


def _release_when_running(joiner: Worker, hold_file: Path) -> None:
    """Let the held members go on once the new member runs its function (it subscribes at once)."""
    try:
        joiner.wait_for(lambda status: status.phase == "running", HOLD_MAX_S, "the new member running")
        time.sleep(HOLD_AFTER_JOINER_RUNS_S)  # its JoinGroup is on the way: the rebalance has begun
    except (TimeoutError, EoslabError):
        pass  # released anyway; the members also stop waiting after HOLD_MAX_S
    hold_file.unlink(missing_ok=True)


def _untransformed(output_topic: str, timeout_s: float, address: str) -> list[str]:
    """What is wrong with the output records' keys and values (the verifier compares ids only)."""
    problems = []
    for _, key, value in read_messages(output_topic, "read_committed", timeout_s, bootstrap_servers=address):
        number = record_id(value)
        if value != record_value(number, "copied"):
            problems.append(f"output record {number} holds {value!r}, not transform(value) "
                            f"({record_value(number, 'copied')!r})")
        elif key != str(number).encode():
            problems.append(f"output record {number} has the key {key!r}, not its input record's ({str(number)!r})")
        if len(problems) == 3:
            problems.append("(and maybe more)")
            break
    return problems


# ---- the worker side (run by eoslab.workers.learner_member) -------------------------------------

def member_main(spec: dict[str, Any], reporter: Any, controls: Any = None) -> None:
    """Load the function, build its clients, run it until told to stop, then leave the group.

    ``spec["consumer_config"]`` (optional) adds consumer settings (a ``client.id``, the assignor).
    ``controls`` (optional; :mod:`eoslab.workers.revocation_check` passes one) has
    ``wrap(consumer, producer, transform)`` returning what the function is given instead: the
    same clients and transform, with a check's holds and waits around some of their calls.
    """
    from .protocol import client_callbacks  # worker-side only

    module_spec = importlib.util.spec_from_file_location("learner_member_under_test", spec["module_path"])
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    function = getattr(module, spec["function"])
    consumer = make_consumer({
        "group.id": spec["group"],  # every instance in one group: the partitions are shared out
        "enable.auto.commit": False,  # offsets move only with a committed transaction
        "auto.offset.reset": "earliest",  # nothing committed yet: start at the first input record
        "isolation.level": "read_committed",  # never copy records of aborted upstream transactions
        "session.timeout.ms": SESSION_TIMEOUT_MS,  # the broker's minimum: a paused member is dropped soon
        "heartbeat.interval.ms": HEARTBEAT_INTERVAL_MS,
        **(spec.get("consumer_config") or {}),
        **client_callbacks(reporter),
    }, bootstrap_servers=spec["bootstrap"])
    producer = make_producer({
        "transactional.id": spec["transactional_id"],  # the restarted instance fences the killed one
        "transaction.timeout.ms": 60000,  # the default; a restart aborts a killed run's transaction sooner
        **client_callbacks(reporter),
    }, bootstrap_servers=spec["bootstrap"])
    reporter.update(now=True, phase="init_transactions", committed=0, transactions_aborted=0)
    producer.init_transactions(CALL_TIMEOUT_S)  # aborts what the killed run left open
    kill = KillPoint(**spec["kill"]) if spec.get("kill") else None
    watched_producer = _WatchedProducer(producer, kill, lambda point: reporter.crash(str(point)), reporter,
                                        spec.get("abortable_on_commit"))
    copy_delay_s = float(spec.get("copy_delay_s", 0.0))
    stop_file = Path(spec["stop_file"])

    hold_file = Path(spec["hold_file"]) if spec.get("hold_file") else None

    def transform(value: bytes | None) -> bytes:
        if hold_file is not None and hold_file.exists():
            held_until = time.monotonic() + HOLD_MAX_S
            while hold_file.exists() and time.monotonic() < held_until:
                time.sleep(0.05)  # polling interval: the parent removes the file once the joiner runs
        if copy_delay_s:
            time.sleep(copy_delay_s)  # paced, so every strike lands while records are still being copied
        return record_value(record_id(value), "copied")

    def keep_going() -> bool:
        reporter.update(partitions=sorted(partition.partition for partition in consumer.assignment()))
        return not stop_file.exists()

    given: tuple[Any, Any, Callable[[bytes | None], bytes]] = (
        _WatchedConsumer(consumer, reporter), watched_producer, transform)
    if controls is not None:
        given = controls.wrap(*given)
    reporter.update(now=True, phase="running")
    function(given[0], given[1], spec["input_topic"], spec["output_topic"], given[2], keep_going)
    reporter.update(now=True, phase="closing")
    consumer.close()  # leaves the group: the last revoke runs the function's own callback
