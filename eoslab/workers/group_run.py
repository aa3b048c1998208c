"""Exactly-once copiers as one consumer group, hurt at random; then every partition is verified.

The style of Kafka's own ``transactions_test.py``: several instances of the course's copier
(:mod:`eoslab.workers.pipeline`, exactly-once mode) ``subscribe()`` to one multi-partition input as
one consumer group, each with its own ``transactional.id`` (KIP-447: the group's generation, sent
with the offsets, fences a zombie, so one id per instance is enough). While they copy, a seeded
plan strikes at chosen fractions of the input:

- ``kill``: SIGKILL an instance and start it again (same ``transactional.id``: the new one fences
  the old one and aborts what it left open; its partitions come back after a rebalance);
- ``pause``: SIGSTOP an instance for longer than the session timeout, so the group moves its
  partitions on without it, then SIGCONT: a zombie *consumer* that may still have a transaction
  open (its offsets are refused for the old generation, its transaction aborted);
- ``broker``: a hard restart (SIGKILL) of the course's own broker;
- ``join``: one more instance starts (a rebalance while the others copy: with
  ``group.protocol=consumer``, KIP-848's incremental assignment moves partitions one by one).

Progress is the group's committed offsets (read without waiting for open transactions); an
instance that ends before the input is copied (idle, or a fatal error after a broker outage) is
started again. At the end the output is read ``read_committed`` and compared with the input:
nothing lost, nothing duplicated, order kept within each input partition.

Guarantees: the whole run has a deadline (``timeout_s``); every instance is closed and both topics
deleted afterwards, whatever happened. Needs the course's own broker only for ``broker`` faults.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from collections.abc import Callable
from typing import Any

from confluent_kafka import TopicPartition

from ..errors import EoslabError
from ..kafka.clients import create_topics, delete_topics, make_consumer, unique_name
from ..kafka.connect import bootstrap as default_bootstrap
from ..lessons.verifier import DeliveryReport, read_records, verify
from .broker_faults import broker_is_controlled, restart_broker
from .handle import Worker
from .harness import produce_input
from .launch import start_pipeline

FAULT_KINDS = ("kill", "pause", "broker", "join")
SESSION_TIMEOUT_MS = 6000  # the broker's minimum: a paused instance loses its partitions after 6 s
PAUSE_S = SESSION_TIMEOUT_MS / 1000 + 4  # long enough for the group to move on without it
PAUSE_WAIT_S = 3.0  # at most this long for the member to be inside a transaction before it is paused
CHECK_EVERY_S = 0.5


@dataclass(frozen=True)
class GroupFault:
    """One strike: when ``at_fraction`` of the input has been committed, do ``kind`` to ``instance``."""

    at_fraction: float
    kind: str
    instance: int

    def __str__(self) -> str:
        action = {"broker": "restart the broker", "join": "start one more instance"}.get(
            self.kind, f"{self.kind} instance {self.instance}")
        return f"{action} at {self.at_fraction:.0%}"


def group_fault_plan(seed: int, instances: int, *, kills: int = 4, pauses: int = 1,
                     broker_restarts: int = 1) -> list[GroupFault]:
    """Seeded strikes spread between 5 % and 85 % of the input, in the order they happen."""
    rng = random.Random(seed)
    kinds = ["kill"] * kills + ["pause"] * pauses + ["broker"] * broker_restarts
    fractions = sorted(rng.uniform(0.05, 0.85) for _ in kinds)
    rng.shuffle(kinds)
    return [GroupFault(round(fraction, 3), kind, rng.randrange(instances))
            for fraction, kind in zip(fractions, kinds)]


@dataclass
class GroupRunResult:
    """What a group run did and what the verifier found."""

    records: int
    partitions: int
    instances: int
    report: DeliveryReport | None = None
    strikes: list[str] = field(default_factory=list)  # what was done, in order, with when
    restarts: int = 0  # instances started again after they ended on their own (idle, fatal error)
    aborted_transactions: int = 0  # as the instances reported them (a killed one reports no more)
    abort_reasons: set[str] = field(default_factory=set)  # error names behind those aborts (ILLEGAL_GENERATION, …)
    errors: list[str] = field(default_factory=list)
    member_errors: list[str] = field(default_factory=list)  # members that ended on an error of their own
    elapsed_s: float = 0.0
    timeline: list[tuple[float, int]] = field(default_factory=list)  # (seconds since start, committed)
    final_owners: dict[int, tuple[int, ...]] = field(default_factory=dict)  # instance -> partitions, at the end

    def longest_stall_s(self) -> float:
        """The longest time the group committed nothing while input was left (a rebalance, an outage)."""
        longest, last_change = 0.0, 0.0
        for (at, committed), (_, before) in zip(self.timeline[1:], self.timeline):
            if committed != before:
                last_change = at
            longest = max(longest, at - last_change)
        return longest

    @property
    def exactly_once(self) -> bool:
        """Every input record copied exactly once, in order within its partition, and no error."""
        return (not self.errors and self.report is not None and self.report.exactly_once
                and not self.report.out_of_order)

    def describe(self) -> str:
        head = (f"{self.records} records, {self.partitions} partitions, {self.instances} instances, "
                f"{len(self.strikes)} strikes ({', '.join(self.strikes) or 'none'}), "
                f"{self.restarts} restarts, {self.aborted_transactions} transactions aborted"
                + (f" ({', '.join(sorted(self.abort_reasons))})" if self.abort_reasons else "")
                + f", {self.elapsed_s:.0f} s")
        if self.report is None:
            found = "output not verified"
        else:
            report = self.report
            found = (f"output: {report.received} records, {len(report.lost)} lost, "
                     f"{len(report.duplicated)} duplicated, {len(report.out_of_order)} out of order")
        return "; ".join([head, found, *self.errors])


def run_group_copiers(*, records: int = 20_000, partitions: int = 6, instances: int = 3, seed: int = 0,
                      plan: list[GroupFault] | None = None, mode: str = "exactly_once",
                      records_per_transaction: int = 200, copy_delay_s: float = 0.003,
                      consumer_config: dict[str, Any] | None = None,
                      timeout_s: float = 300.0, bootstrap: str | None = None) -> GroupRunResult:
    """Copy ``records`` records with ``instances`` copiers in one group under ``plan``; verify.

    ``instances`` start at once; each ``join`` in the plan adds one more. ``plan`` defaults to :func:`group_fault_plan` for ``seed`` (with a broker restart only when the
    course runs the broker). ``mode="at_least_once"`` runs the contrast: offsets committed by the
    consumer after the copies, so a strike copies records again. ``copy_delay_s`` per record paces
    the copiers so that the whole plan happens before the input runs out (unpaced, three copiers
    copy 20,000 records in ~10 s here); a plan left unfinished is an error, not a pass.
    """
    if instances < 1 or partitions < 1 or records < 1:
        raise EoslabError("records, partitions and instances must each be at least 1")
    address = bootstrap or default_bootstrap()
    if plan is None:
        plan = group_fault_plan(seed, instances, broker_restarts=1 if broker_is_controlled() else 0)
    if any(fault.kind == "broker" for fault in plan) and not broker_is_controlled():
        raise EoslabError("the plan restarts the broker, but the course does not run this one; "
                          "leave 'broker' out of the plan (group_fault_plan(..., broker_restarts=0))")
    started = time.monotonic()
    deadline = started + timeout_s
    input_topic, output_topic = unique_name("group-in"), unique_name("group-out")
    group = unique_name("group-copier")
    result = GroupRunResult(records, partitions, instances)
    create_topics([input_topic, output_topic], partitions=partitions, bootstrap_servers=address)
    # KIP-848 groups take their session timeout from the broker; a client that sets one is refused.
    kip_848 = (consumer_config or {}).get("group.protocol") == "consumer"
    session_timeout = {} if kip_848 else {"session.timeout.ms": SESSION_TIMEOUT_MS}
    if kip_848 and any(fault.kind in ("kill", "pause") for fault in plan):
        raise EoslabError("with group.protocol=consumer a dead or paused member keeps its partitions for the "
                          "broker's session timeout (45 s at least): use 'join' and 'broker' strikes")
    try:
        produce_input(input_topic, records, address)

        def start(number: int) -> Worker:
            return start_pipeline(
                input_topic, output_topic, group,
                # One transactional.id per instance, kept across its restarts (the restart fences its
                # predecessor); the group generation fences a zombie consumer (KIP-447).
                f"{group}-{number}" if mode == "exactly_once" else None,
                mode=mode, records_per_transaction=records_per_transaction, process_delay_s=copy_delay_s,
                bootstrap=address,
                consumer_config={**session_timeout, **(consumer_config or {})},
                idle_exit_s=15.0, max_lifetime_s=max(5.0, deadline - time.monotonic()), name=f"copier {number}")

        supervise_group(start, result, plan, group=group, input_topic=input_topic, started=started,
                        deadline=deadline, timeout_s=timeout_s, address=address)
        result.report = verify_group_copy(input_topic, output_topic, max(5.0, deadline - time.monotonic()), address)
    finally:
        delete_topics([input_topic, output_topic], bootstrap_servers=address)
        result.elapsed_s = time.monotonic() - started
    return result


def supervise_group(start: Callable[[int], Worker], result: GroupRunResult, plan: list[GroupFault], *,
                    group: str, input_topic: str, started: float, deadline: float, timeout_s: float,
                    address: str, on_done: Callable[[], None] | None = None,
                    stop_on_member_error: bool = False) -> None:
    """Run ``result.instances`` members (``start(number)`` starts one) until the group has committed
    the whole input, striking per ``plan``; restart members that end early; close them all.

    ``on_done`` runs once the input is committed, before the members are closed (members that
    stop on a signal of their own get it there). Errors go to ``result.errors``; a member that
    ended on an error that is not a fatal Kafka one goes to ``result.member_errors`` as well, and
    with ``stop_on_member_error`` ends the run there (a learner's function that raises would only
    raise again).
    """
    records = result.records
    copiers: list[Worker] = []
    try:
        copiers = [start(number) for number in range(result.instances)]
        pending = list(plan)
        committed_at_last_strike = -1
        paused: dict[int, float] = {}  # instance -> when it is resumed
        progress = _GroupProgress(group, input_topic, result.partitions, address)
        try:
            while True:
                done = progress.committed()
                result.timeline.append((round(time.monotonic() - started, 2), done))
                if done >= records:
                    if pending:
                        result.errors.append(f"the input was copied before {len(pending)} of the strikes "
                                             f"({', '.join(map(str, pending))}): slow the copiers down "
                                             f"(copy_delay_s) or copy more records")
                    break
                if time.monotonic() > deadline:
                    result.errors.append(f"not copied within {timeout_s:.0f} s: {done} of {records} committed")
                    break
                # One strike at a time, and only after the group has committed more since the last
                # one: strikes that land together test less than strikes the copiers recover from.
                if pending and done >= pending[0].at_fraction * records and done > committed_at_last_strike:
                    fault = pending.pop(0)
                    result.strikes.append(f"{fault} ({done} committed)")
                    committed_at_last_strike = done
                    _strike(fault, copiers, start, paused)
                for number, resume_at in list(paused.items()):
                    if time.monotonic() >= resume_at:  # the zombie wakes up, its partitions long gone
                        copiers[number].resume()
                        del paused[number]
                for copier in copiers:
                    status = copier.status
                    if status.transactions_aborted and status.error:
                        result.abort_reasons.add(status.error.split(":")[0])
                for number, copier in enumerate(copiers):
                    if not copier.status.alive and number not in paused:
                        result.aborted_transactions += copier.status.transactions_aborted
                        _note_failure(copier, result)
                        copier.close()
                        copiers[number] = start(number)
                        result.restarts += 1
                if stop_on_member_error and result.member_errors:
                    result.errors.append(f"a member ended on an error: {result.member_errors[0]}")
                    break
                time.sleep(CHECK_EVERY_S)  # the next look at the committed offsets
        finally:
            progress.close()
        if on_done is not None:
            on_done()
        result.final_owners = {number: copier.status.partitions for number, copier in enumerate(copiers)}
        for number, copier in enumerate(copiers):
            if number in paused:
                copier.resume()
            if on_done is not None:
                _wait_quietly(copier, max(1.0, min(10.0, deadline - time.monotonic())))
            result.aborted_transactions += copier.status.transactions_aborted
            copier.close()
    finally:
        for copier in copiers:
            copier.close()


def _wait_quietly(copier: Worker, timeout_s: float) -> None:
    """Give a member told to stop the time to end its last transaction; close() kills it after that."""
    try:
        copier.wait(timeout_s)
    except TimeoutError:
        pass


def _note_failure(copier: Worker, result: GroupRunResult) -> None:
    """A member that ended with an error of its own (not a strike): keep the first line of why."""
    status = copier.status
    if status.phase == "failed" and status.error and not status.fatal:
        result.member_errors.append(f"{copier.name}: {status.error}")


def verify_group_copy(input_topic: str, output_topic: str, timeout_s: float,
                      address: str | None = None) -> DeliveryReport:
    """Input against output, both read read_committed: lost, duplicated, out of order per input partition."""
    address = address or default_bootstrap()
    sent = read_records(input_topic, "read_committed", timeout_s, bootstrap_servers=address)
    partition_of = {record: partition for partition, record in sent}
    received = read_records(output_topic, "read_committed", timeout_s, bootstrap_servers=address)
    return verify([record for _, record in sent], [record for _, record in received],
                  order_group=lambda record: partition_of.get(record))


def _strike(fault: GroupFault, copiers: list[Worker], start: Any, paused: dict[int, float]) -> None:
    if fault.kind == "join":
        copiers.append(start(len(copiers)))
    elif fault.kind == "kill":
        if fault.instance in paused:  # a SIGKILLed process needs no SIGCONT
            del paused[fault.instance]
        copiers[fault.instance].kill()
        copiers[fault.instance].close()
        copiers[fault.instance] = start(fault.instance)
    elif fault.kind == "pause":
        if fault.instance not in paused:
            # A zombie worth the name has a transaction open: wait (briefly) for one to begin.
            try:
                copiers[fault.instance].wait_for(lambda status: status.transaction == "open", PAUSE_WAIT_S,
                                                 "a transaction to be open")
            except (TimeoutError, EoslabError):
                pass  # paused anyway: between transactions, or a member that ended meanwhile
            copiers[fault.instance].pause()
            # The group rebalances without it meanwhile; the others go on copying.
            paused[fault.instance] = time.monotonic() + PAUSE_S
    elif fault.kind == "broker":
        restart_broker(hard=True)
    else:
        raise EoslabError(f"unknown fault {fault.kind!r}: choose one of {', '.join(FAULT_KINDS)}")


class _GroupProgress:
    """How many input records the group has committed: the sum of its committed offsets."""

    def __init__(self, group: str, topic: str, partitions: int, address: str) -> None:
        self._partitions = [TopicPartition(topic, number) for number in range(partitions)]
        self._consumer = make_consumer({
            "group.id": group,  # only reads the group's offsets: it never subscribes, so never joins
            "enable.auto.commit": False,
            # read_uncommitted: do not wait for offsets still pending in an open transaction (with
            # read_committed, librdkafka asks for stable offsets and waits for those transactions).
            "isolation.level": "read_uncommitted",
        }, bootstrap_servers=address)
        self._last = 0

    def committed(self) -> int:
        try:
            offsets = self._consumer.committed(self._partitions, timeout=5)
        except Exception:  # noqa: BLE001 - the broker may be restarting: keep the last figure
            return self._last
        self._last = sum(max(0, partition.offset) for partition in offsets)
        return self._last

    def close(self) -> None:
        self._consumer.close()


@dataclass
class ZombieConsumerResult:
    """What a copier paused mid-transaction past its session timeout met when it woke up."""

    zombie_error: str | None  # the error its offsets or its commit met (e.g. "ILLEGAL_GENERATION: …")
    zombie_aborted: int  # transactions the zombie aborted after waking up
    steps: list[str] = field(default_factory=list)  # what happened, in order
    report: DeliveryReport | None = None
    elapsed_s: float = 0.0

    @property
    def fenced(self) -> bool:
        """The zombie's transaction was refused and aborted, and the output is exactly-once."""
        return bool(self.zombie_aborted) and self.report is not None and self.report.exactly_once

    def describe(self) -> str:
        found = "output not verified" if self.report is None else (
            f"output: {self.report.received} records, {len(self.report.lost)} lost, "
            f"{len(self.report.duplicated)} duplicated")
        return "; ".join([*self.steps, found])


def fence_a_zombie_consumer(*, records: int = 1_000, partitions: int = 2, records_per_transaction: int = 100,
                            copy_delay_s: float = 0.02, timeout_s: float = 120.0,
                            bootstrap: str | None = None) -> ZombieConsumerResult:
    """Two copiers in a group; pause the first mid-transaction past the session timeout, resume it.

    Meanwhile the group gives its partitions to the second, which copies them again from the last
    committed offsets. Woken up, the zombie finishes its batch and sends its offsets with the old
    generation: the group coordinator refuses them (KIP-447), the zombie aborts, and the output
    stays exactly-once. Slow copies (``copy_delay_s`` per record) keep a transaction open long
    enough to be caught open.
    """
    address = bootstrap or default_bootstrap()
    started = time.monotonic()
    deadline = started + timeout_s
    input_topic, output_topic = unique_name("zombie-in"), unique_name("zombie-out")
    group = unique_name("zombie-group")
    result = ZombieConsumerResult(zombie_error=None, zombie_aborted=0)
    create_topics([input_topic, output_topic], partitions=partitions, bootstrap_servers=address)
    copiers: list[Worker] = []
    try:
        produce_input(input_topic, records, address)
        for number in range(2):
            copiers.append(start_pipeline(
                input_topic, output_topic, group, f"{group}-{number}", records_per_transaction=records_per_transaction,
                process_delay_s=copy_delay_s, bootstrap=address, idle_exit_s=10.0,
                consumer_config={"session.timeout.ms": SESSION_TIMEOUT_MS},
                max_lifetime_s=timeout_s, name=f"copier {number}"))
        zombie, survivor = copiers
        remaining = lambda: max(1.0, deadline - time.monotonic())  # noqa: E731 - the deadline, read at each wait
        survivor.wait_for(lambda s: s.assigned, remaining(), "copier 1 assigned")
        # Mid-transaction, a few records in: the copies so far are in the output log, uncommitted.
        caught = zombie.wait_for(lambda s: s.transaction == "open" and s.produced % records_per_transaction >= 10,
                                 remaining(), "copier 0 in the middle of a transaction")
        zombie.pause()
        result.steps.append(f"copier 0 paused with a transaction open ({caught.produced} copies written, "
                            f"{caught.committed} committed)")
        time.sleep(PAUSE_S)  # past session.timeout.ms: the group moves copier 0's partitions to copier 1
        zombie.resume()
        result.steps.append(f"copier 0 resumed after {PAUSE_S:.0f} s (session timeout {SESSION_TIMEOUT_MS / 1000:.0f} s)")
        try:
            woke = zombie.wait_for(lambda s: s.transactions_aborted > caught.transactions_aborted
                                   or s.transactions_committed > caught.transactions_committed,
                                   remaining(), "copier 0 to end its transaction")
        except TimeoutError as late:
            result.steps.append(str(late))
        else:
            result.zombie_aborted = woke.transactions_aborted - caught.transactions_aborted
            result.zombie_error = woke.error
            result.steps.append(f"copier 0's transaction {'aborted' if result.zombie_aborted else 'COMMITTED'}"
                                + (f": {woke.error}" if woke.error else ""))
        progress = _GroupProgress(group, input_topic, partitions, address)
        try:
            while progress.committed() < records and time.monotonic() < deadline:
                time.sleep(CHECK_EVERY_S)  # the next look at the committed offsets
        finally:
            progress.close()
        for copier in copiers:
            copier.close()
        result.report = verify_group_copy(input_topic, output_topic, remaining(), address)
    finally:
        for copier in copiers:
            copier.close()
        delete_topics([input_topic, output_topic], bootstrap_servers=address)
        result.elapsed_s = time.monotonic() - started
    return result
