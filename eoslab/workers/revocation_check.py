"""A partition revoked while a learner's group member has a transaction open: is it ended first?

The contract is :mod:`eoslab.workers.member_harness`'s (``copy_as_member``): a member whose
transaction stays open across several ``consume()`` calls must end it — commit, offsets included,
or abort — in ``on_revoke``, *before* its partitions leave. A member that does not (``subscribe()``
with no callbacks) commits the copies after the rebalance, while the partition's next owner has
already read it from the old committed offset and copies the same records again.

:func:`revoke_with_open_transaction` stages that moment once, on purpose, instead of hoping a run
under kills meets it (:func:`~eoslab.workers.member_harness.run_members` often has no transaction
open when its rebalances come, above all on a loaded machine):

1. A one-partition input of ``records`` records (fewer than the exercise's ``commit_every``, so
   the member never commits for size before the revocation). Your member (the learner's function,
   in a worker process) joins a fresh group (classic protocol, range assignor) alone, takes
   partition 0 and copies — and its ``transform`` holds at record ``hold_at``: a transaction is
   open with the copies so far.
2. A second member (the course's exactly-once copier, :mod:`eoslab.workers.pipeline`) joins. Its
   ``client.id`` sorts before yours, and the range assignor hands partitions out in member-id order
   (member id = client.id + "-" + a UUID): partition 0 moves to it. Once the group coordinator says
   PreparingRebalance, your member is released.
3. confluent-kafka always registers a rebalance callback (``Consumer_rebalance_cb`` in
   ``Consumer.c``); with no ``on_revoke`` given it only unassigns. Either way the revocation runs
   in the application's thread, inside its ``consume()``/``poll()``. The coordinator keeps the
   group waiting until your member rejoins (up to ``max.poll.interval.ms``), so holding it loses
   nothing; but your member hears of the rebalance only at its next heartbeat. If its next
   ``consume()`` ended empty before that, a member that commits on an empty read would commit
   in the old generation, before the revocation, and pass by luck (seen: 3 runs in 6 with a 1 s
   heartbeat). So while the group is rebalancing and your member still owns partition 0, a
   ``consume()``/``poll()`` that brings nothing is called again (bounded): the revocation comes
   inside that read, every time.
4. A commit (``send_offsets_to_transaction``/``commit_transaction``) of a transaction begun while
   your member owned partition 0, made after partition 0 has left (outside ``on_revoke``), waits
   (bounded) until the second member has read partition 0 from its committed offset. A late
   commit is then too late every time, not only when the new owner happens to fetch its offset
   first (seen: a member without callbacks that reads with ``timeout=0.05`` passed 1 run in 6).

Holding a record, and reads and commits that take longer, are delays any real member can meet; a
correct member copies exactly once under any of them. With these holds the outcome depends on the
code only: a member that commits (or aborts) in ``on_revoke`` copies exactly once on every run,
one that subscribes without callbacks duplicates copies its transaction held, on every run
(measured: 15 of 15 and 15 of 15, idle and beside two busy loops; tests/test_revocation_check.py).

Then the output is read read_committed and compared with the input (ids, order, duplicates).

Guarantees: every wait has a deadline within ``timeout_s``; a function that is still the stub
raises :class:`~eoslab.lessons.unwritten.NotDoneYet` at once; both workers are closed, a
transaction a killed one left open is aborted (``init_transactions`` with its id), and both topics
are deleted afterwards. Takes 2–4 s (two cores, idle or loaded).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from confluent_kafka import ConsumerGroupState, KafkaException

from ..errors import EoslabError
from ..kafka.clients import create_topics, delete_topics, make_admin, make_producer, unique_name
from ..kafka.connect import bootstrap as default_bootstrap
from ..lessons.unwritten import NotDoneYet, is_written
from ..lessons.verifier import DeliveryReport
from .group_run import SESSION_TIMEOUT_MS, _GroupProgress, verify_group_copy
from .handle import Worker, WorkerExited
from .harness import produce_input, write_module
from .launch import start_pipeline
from .member_harness import member_main

RECORDS = 20  # fewer than copy_as_member's commit_every (50): no commit for size before the revocation
HOLD_AT = 5  # your member's transform holds at its 5th record: 4 copies in the open transaction
HEARTBEAT_INTERVAL_MS = 250  # your member hears of the rebalance within this (the group waits for it anyway)
LOOK_EVERY_S = 0.05
GROUP_STATE_WAIT_S = 10.0  # the second member's join sets the group rebalancing within this
STOP_WAIT_S = 10.0  # your member, told to stop, returns and leaves the group within this


@dataclass
class RevocationResult:
    """What :func:`revoke_with_open_transaction` saw your member do, and what the verifier found."""

    records: int
    held_copies: int | None = None  # copies your member had made when its transform was held
    open_copies: int | None = None  # copies in its open transaction when partition 0 was revoked
    ended_before_leaving: str | None = None  # "committed" / "aborted": what on_revoke did; None: nothing
    committed_late: bool = False  # it committed copies of partition 0 after partition 0 had moved
    rebalance_seen: bool = False  # the group coordinator reported PreparingRebalance while it was held
    report: DeliveryReport | None = None
    steps: list[str] = field(default_factory=list)  # what happened, in order, for a teacher or a log
    errors: list[str] = field(default_factory=list)  # why the check could not run as staged
    elapsed_s: float = 0.0

    @property
    def duplicated(self) -> int:
        """Records copied more than once (extra copies) in the read_committed output."""
        return self.report.extra_copies if self.report is not None else 0

    @property
    def exactly_once(self) -> bool:
        """Every input record copied exactly once, in order, and the scenario ran as staged."""
        return (not self.errors and self.report is not None and self.report.exactly_once
                and not self.report.out_of_order)

    def describe(self) -> str:
        """One line a learner can act on."""
        found = [] if self.report is None or self.report.exactly_once else [f"output: {self.report.summary()}"]
        if self.errors:
            return "; ".join(self.errors + found)
        if self.report is None:
            return "the output was not verified"
        moved = (f"your member had {self.open_copies} copies in its open transaction when partition 0 moved "
                 f"to another member" if self.open_copies else
                 "your member had no transaction open when partition 0 moved to another member")
        if self.exactly_once:
            how = {"committed": "; it committed them (with their offsets) in on_revoke",
                   "aborted": "; it aborted them in on_revoke"}.get(self.ended_before_leaving or "", "")
            return f"{moved}{how}: every record was copied exactly once"
        if self.duplicated:
            late = "; it committed them after the rebalance" if self.committed_late else ""
            return (f"{moved}{late}: {self.duplicated} records copied twice — end the open transaction "
                    f"(commit it with its offsets) in on_revoke, before the partition leaves")
        return f"{moved}; output: {self.report.summary()}"


def revoke_with_open_transaction(function: Callable[..., Any], *, records: int = RECORDS, hold_at: int = HOLD_AT,
                                 timeout_s: float = 30.0, bootstrap: str | None = None) -> RevocationResult:
    """Revoke your member's partition while its transaction is open; verify the output.

    ``function`` is a ``copy_as_member(consumer, producer, input_topic, output_topic, transform,
    keep_going)``. Raises :class:`~eoslab.lessons.unwritten.NotDoneYet` at once while it is the stub.
    """
    if not is_written(function):
        raise NotDoneYet(f"write {function.__name__}()")
    if not 1 <= hold_at <= records:
        raise EoslabError(f"hold_at must be between 1 and records ({records}), not {hold_at}")
    started = time.monotonic()
    deadline = started + timeout_s
    address = bootstrap or default_bootstrap()
    input_topic, output_topic = unique_name("revoke-in"), unique_name("revoke-out")
    group = unique_name("revoke")
    yours_id, next_id = f"{group}-yours", f"{group}-next"
    result = RevocationResult(records)
    create_topics([input_topic, output_topic], partitions=1, bootstrap_servers=address)
    module_dir = tempfile.TemporaryDirectory(prefix="eoslab-revoke-")
    workers: list[Worker] = []
    try:
        files = {name: Path(module_dir.name) / name for name in ("hold", "rebalancing", "moved", "stop")}
        files["hold"].touch()
        module_path = write_module(function, Path(module_dir.name))
        produce_input(input_topic, records, address)
        assignor = {"partition.assignment.strategy": "range", "group.protocol": "classic"}
        yours = Worker("learner_member", {
            "module_path": str(module_path), "function": function.__name__, "input_topic": input_topic,
            "output_topic": output_topic, "group": group, "transactional_id": yours_id, "bootstrap": address,
            "stop_file": str(files["stop"]), "kill": None, "abortable_on_commit": None,
            "max_lifetime_s": timeout_s + 5,
            # Member ids are client.id + "-" + a UUID, and the range assignor gives partitions in
            # member-id order: "…-next-owner" sorts before "…-your-member", so partition 0 moves.
            "consumer_config": {"client.id": f"{group}-your-member", "heartbeat.interval.ms": HEARTBEAT_INTERVAL_MS,
                                **assignor},
            "revocation": {"partition": [input_topic, 0], "hold_at": hold_at,
                           **{f"{name}_file": str(path) for name, path in files.items() if name != "stop"},
                           "max_wait_s": timeout_s}},
            name="your member")
        workers.append(yours)
        remaining = lambda: max(0.5, deadline - time.monotonic())  # noqa: E731 - the deadline, read at each wait

        # 1. Your member copies partition 0 and is held at record `hold_at`, its transaction open.
        try:
            held = yours.wait_for(lambda s: s.step == "held" or s.phase in ("failed", "done"), remaining(),
                                  f"your member copying its record {hold_at}")
        except (TimeoutError, WorkerExited) as late:
            result.errors.append(_ended(yours, f"your member did not reach its record {hold_at}") or str(late))
            return result
        if held.phase != "running" or held.step != "held":
            result.errors.append(_ended(yours, f"your member did not reach its record {hold_at}")
                                 or f"your member returned before it copied {hold_at} records")
            return result
        result.held_copies = held.produced
        result.steps.append(f"your member held at record {hold_at} with {held.produced} copies, "
                            f"transaction {held.transaction}")

        # 2. A second member joins; partition 0 is to move to it.
        second = start_pipeline(
            input_topic, output_topic, group, next_id, records_per_transaction=10, bootstrap=address,
            consumer_config={"client.id": f"{group}-next-owner", "session.timeout.ms": SESSION_TIMEOUT_MS,
                             **assignor},
            idle_exit_s=timeout_s, max_lifetime_s=timeout_s + 5, name="second member")
        workers.append(second)
        result.rebalance_seen = _wait_until_rebalancing(group, second, min(GROUP_STATE_WAIT_S, remaining()), address)
        result.steps.append("the group is rebalancing" if result.rebalance_seen
                            else "the group was not seen rebalancing (your member may not be in it)")
        files["rebalancing"].touch()
        files["hold"].unlink()

        # 3-4. The revocation comes inside your member's next read; the second member takes over.
        progress = _GroupProgress(group, input_topic, 1, address)
        try:
            while True:
                status, taking = yours.status, second.status
                copied_all = progress.committed() >= records or (taking.last_offset or 0) >= records
                if (taking.consumed or copied_all) and not files["moved"].exists():
                    files["moved"].touch()  # the second member has read partition 0 from its committed offset
                if copied_all and 0 in taking.partitions:
                    break  # (your member's last commit, if any is left, comes when keep_going() turns False)
                if not status.alive or status.phase == "failed" or not taking.alive:
                    break
                if time.monotonic() > deadline:
                    result.errors.append(f"not copied within {timeout_s:.0f} s: {yours.status.describe()}; "
                                         f"{second.status.describe()}")
                    break
                time.sleep(LOOK_EVERY_S)
        finally:
            progress.close()
        files["stop"].touch()
        try:
            yours.wait(min(STOP_WAIT_S, remaining()))
        except TimeoutError:
            result.errors.append(f"your member did not return within {STOP_WAIT_S:.0f} s of keep_going() "
                                 f"turning False")
        _note_events(yours, result)
        if yours.status.phase == "failed":
            result.errors.append(_ended(yours, "your member failed") or "your member failed")
        elif second.status.phase == "failed":
            result.errors.append(f"the second member failed: {second.status.error}")
        elif result.open_copies is None:
            result.errors.append("partition 0 was never revoked from your member: it must subscribe() to the "
                                 "input topic (a consumer given partitions with assign() is in no group)")
        for worker, transactional_id in ((yours, yours_id), (second, next_id)):
            left_open = worker.status.transaction in ("open", "aborting")  # reported at once by both kinds
            worker.close()  # SIGKILL if it still runs (the second member idles until then)
            if left_open:
                _abort_left_open(transactional_id, address)  # else read_committed waits for it
        result.report = verify_group_copy(input_topic, output_topic, remaining(), address)
    finally:
        for worker in workers:
            worker.close()
        module_dir.cleanup()
        delete_topics([input_topic, output_topic], bootstrap_servers=address)
        result.elapsed_s = time.monotonic() - started
    return result


def _ended(worker: Worker, what: str) -> str | None:
    """``what``, with the error the worker reported (the function's own, if it raised), else None."""
    status = worker.status
    if status.error:
        return f"{what}: {status.error}"
    return None


def _wait_until_rebalancing(group: str, joiner: Worker, timeout_s: float, address: str) -> bool:
    """True once the coordinator reports the group PreparingRebalance (False: not within timeout_s,
    or the joiner got partitions without one — the first member never joined the group)."""
    admin = make_admin(bootstrap_servers=address)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            description = admin.describe_consumer_groups([group], request_timeout=2)[group].result()
        except KafkaException:
            description = None  # the coordinator is busy with the join: ask again
        if description is not None and description.state == ConsumerGroupState.PREPARING_REBALANCING:
            return True
        if joiner.status.assigned and joiner.status.partitions:
            return False
        time.sleep(LOOK_EVERY_S)
    return False


def _note_events(worker: Worker, result: RevocationResult) -> None:
    for event in worker.events():
        if event.get("event") == "partition_revoked" and result.open_copies is None:
            result.open_copies = event["open_copies"]
            result.ended_before_leaving = event.get("ended")
            result.steps.append(f"partition 0 revoked with {event['open_copies']} copies open; "
                                f"ended before it left: {event.get('ended') or 'no'}")
        elif event.get("event") == "late_commit" and not result.committed_late:
            result.committed_late = True
            result.steps.append(f"your member called {event['call']}() after partition 0 had moved")


def _abort_left_open(transactional_id: str, address: str) -> None:
    """A killed member's open transaction: init_transactions with its id aborts it at once."""
    try:
        make_producer({"transactional.id": transactional_id}, bootstrap_servers=address).init_transactions(10)
    except KafkaException:
        pass  # it aborts on its own after transaction.timeout.ms; the read then waits that long


# ---- the worker side (run by eoslab.workers.learner_member) -------------------------------------

def revocation_member_main(spec: dict[str, Any], reporter: Any) -> None:
    """:func:`~eoslab.workers.member_harness.member_main`, with this check's holds around the clients."""
    member_main(spec, reporter, controls=_Controls(spec["revocation"], reporter))


class _Controls:
    """The holds of steps 1, 3 and 4 (see the module docstring), and what the member did at the revocation."""

    def __init__(self, settings: dict[str, Any], reporter: Any) -> None:
        self.reporter = reporter
        self.watched = tuple(settings["partition"])
        self.hold_at = int(settings["hold_at"])
        self.hold_file, self.rebalancing_file, self.moved_file = (
            Path(settings[name]) for name in ("hold_file", "rebalancing_file", "moved_file"))
        self.max_wait_s = float(settings["max_wait_s"])
        self.consumer: Any = None  # what wrap() is given: the member's consumer and transform
        self.copy: Any = None
        self.transforms = 0
        self.open_copies = 0  # produce() calls since the transaction began
        self.began_owning = False  # the open transaction began while partition 0 was ours
        self.ended: str | None = None  # how a transaction ended during the current read: "committed" / "aborted"
        self.revoked = False  # partition 0 has left (reported once)
        self.in_on_revoke = False  # inside the function's own on_revoke / on_lost

    def wrap(self, consumer: Any, producer: Any, transform: Callable[[bytes | None], bytes]) -> tuple[Any, Any, Any]:
        self.consumer, self.copy = consumer, transform
        return _ControlledConsumer(consumer, self), _ControlledProducer(producer, self), self.transform

    def owns(self) -> bool:
        return any((p.topic, p.partition) == self.watched for p in self.consumer.assignment())

    def transform(self, value: bytes | None) -> bytes:
        self.transforms += 1
        if self.transforms == self.hold_at:
            self.reporter.update(now=True, step="held")
            held_until = time.monotonic() + self.max_wait_s
            while self.hold_file.exists() and time.monotonic() < held_until:
                time.sleep(0.02)  # the parent removes the file once the group is rebalancing
            self.reporter.update(now=True, step=None)
        return self.copy(value)

    def read(self, call: Callable[[], Any], nothing: Callable[[Any], bool]) -> Any:
        """One consume()/poll(), repeated while it brings nothing, the group is rebalancing and
        partition 0 is still ours: the revocation comes inside this read, not after it. (Not past
        the second member's first read: a member that is in no group is never revoked.)"""
        owned_before, open_before = self.owns(), self.open_copies
        self.ended = None  # set by a commit or an abort inside this read (in on_revoke)
        until = time.monotonic() + self.max_wait_s
        while True:
            answer = call()
            owned = self.owns()
            if owned_before and not owned and not self.revoked:
                self.revoked = True
                self.reporter.event("partition_revoked", open_copies=open_before, ended=self.ended)
            if (not nothing(answer) or not owned or not self.rebalancing_file.exists() or self.moved_file.exists()
                    or time.monotonic() > until):
                return answer

    def before_commit(self, call: str) -> None:
        """A commit of copies of partition 0 made after partition 0 left waits for its next owner.
        Not inside on_revoke: the group waits for that callback to return, and the assignment
        still holds partition 0 there (unless the function unassign()s first)."""
        if not self.began_owning or self.in_on_revoke or self.owns():
            return
        self.reporter.event("late_commit", call=call)
        until = time.monotonic() + self.max_wait_s
        while not self.moved_file.exists() and time.monotonic() < until:
            time.sleep(0.02)


class _ControlledConsumer:
    def __init__(self, consumer: Any, controls: _Controls) -> None:
        self._consumer, self._controls = consumer, controls

    def __getattr__(self, name: str) -> Any:
        return getattr(self._consumer, name)

    def subscribe(self, topics: Any, on_assign: Any = None, on_revoke: Any = None, on_lost: Any = None,
                  **others: Any) -> Any:
        """The function's own callbacks, marked while they run; none given stays none (confluent-kafka
        then unassigns by itself inside the read, which is what a member without callbacks meets)."""
        callbacks = {"on_assign": on_assign, "on_revoke": self._marked(on_revoke), "on_lost": self._marked(on_lost)}
        return self._consumer.subscribe(topics, **{name: cb for name, cb in callbacks.items() if cb is not None},
                                        **others)

    def _marked(self, callback: Any) -> Any:
        if not callable(callback):
            return callback  # None, or what confluent-kafka refuses itself

        def marked(*args: Any) -> Any:
            self._controls.in_on_revoke = True
            try:
                return callback(*args)
            finally:
                self._controls.in_on_revoke = False

        return marked

    def consume(self, *args: Any, **kwargs: Any) -> Any:
        return self._controls.read(lambda: self._consumer.consume(*args, **kwargs), lambda answer: not answer)

    def poll(self, *args: Any, **kwargs: Any) -> Any:
        return self._controls.read(lambda: self._consumer.poll(*args, **kwargs), lambda answer: answer is None)


class _ControlledProducer:
    def __init__(self, producer: Any, controls: _Controls) -> None:
        self._producer, self._controls = producer, controls

    def __getattr__(self, name: str) -> Any:
        return getattr(self._producer, name)

    def begin_transaction(self, *args: Any, **kwargs: Any) -> Any:
        answer = self._producer.begin_transaction(*args, **kwargs)
        self._controls.open_copies = 0
        self._controls.began_owning = self._controls.owns()
        return answer

    def produce(self, *args: Any, **kwargs: Any) -> Any:
        answer = self._producer.produce(*args, **kwargs)
        self._controls.open_copies += 1
        return answer

    def send_offsets_to_transaction(self, *args: Any, **kwargs: Any) -> Any:
        self._controls.before_commit("send_offsets_to_transaction")
        return self._producer.send_offsets_to_transaction(*args, **kwargs)

    def commit_transaction(self, *args: Any, **kwargs: Any) -> Any:
        self._controls.before_commit("commit_transaction")
        answer = self._producer.commit_transaction(*args, **kwargs)
        self._controls.open_copies, self._controls.began_owning, self._controls.ended = 0, False, "committed"
        return answer

    def abort_transaction(self, *args: Any, **kwargs: Any) -> Any:
        answer = self._producer.abort_transaction(*args, **kwargs)
        self._controls.open_copies, self._controls.began_owning, self._controls.ended = 0, False, "aborted"
        return answer
