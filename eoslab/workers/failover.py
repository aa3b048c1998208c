"""Exactly-once under failover: assignment 06's pipeline on the three-node cluster while the input's
leader, the output's leader and the transaction coordinator are killed in turn.

    from eoslab.workers import run_pipeline_under_failover
    result = run_pipeline_under_failover(cluster, records=20_000)
    print(result.describe())        # records, kills, elapsed, throughput, duplicates, lost

What it runs: the course's reference copier (:mod:`eoslab.workers.pipeline`, ``mode="exactly_once"``,
started by :func:`~eoslab.workers.start_pipeline`, not a copy of it) from an input topic to an output
topic, both with replication factor 3 and ``min.insync.replicas=2``. While it copies, each target in
``kills`` is SIGKILLed once — ``"input_leader"`` (the node leading input partition 0),
``"output_leader"`` (output partition 0), ``"coordinator"`` (the node coordinating the copier's
transactional id) — when the copier's committed progress passes 1/5, 2/5, 3/5… of the input; the
node is restarted and back in every ISR before the next kill (two nodes down at once would be a
lost controller quorum). The copier goes on copying while the node comes back, but if it reaches
the next kill's share first it is held (SIGSTOP, then SIGCONT once the node is back), so that every
kill finds it still copying on a fast machine too. A copier that exits (its deadline for a stuck call, or an error it cannot
handle) is restarted with the same group and transactional id, as exactly-once expects.

What it checks (as Kafka's own exactly-once system test does): the output read with read_committed
against the input by record id (:func:`eoslab.lessons.verifier.verify`): nothing lost, no duplicate,
and the order of each input partition kept (one key per input partition, so one output partition).

Every wait has a deadline (``timeout_s`` for the whole run); the topics are deleted afterwards and
every killed node is restarted, even on failure.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import TopicPartition

from ..broker import Cluster
from ..errors import EoslabError
from ..kafka.clients import delete_topics, make_admin, make_consumer, make_producer, unique_name
from ..lessons.verifier import DeliveryReport, read_records, record_value, verify
from .durability import create_replicated_topic, new_leader, require_cluster, restore, transaction_coordinator, until
from .handle import Worker
from .launch import start_pipeline

KILL_TARGETS = ("input_leader", "output_leader", "coordinator")
IN_SYNC_TIMEOUT_S = 60.0
INTERNAL_TOPICS = ("__transaction_state", "__consumer_offsets")


@dataclass(frozen=True)
class Kill:
    target: str           # input_leader, output_leader or coordinator
    node: int
    at_committed: int     # input records the copier had committed when the node was killed
    failover_s: float     # from the kill until the target had a new node
    back_s: float         # from the kill until the node was back in every ISR
    mid_copy: bool = True  # the copier had not committed everything yet
    held_s: float = 0.0    # how long the copier was held (paused) while the node came back


@dataclass(frozen=True)
class PipelineFailoverResult:
    records: int
    partitions: int
    records_per_transaction: int
    kills: list[Kill]
    elapsed_s: float                  # from the copier's start until every input offset was committed
    copier_runs: int                  # 1 + restarts of the copier
    report: DeliveryReport            # the output (read_committed) against the input
    transactions_aborted: int
    notes: list[str] = field(default_factory=list)

    @property
    def duplicates(self) -> int:
        return self.report.extra_copies

    @property
    def lost(self) -> int:
        return len(self.report.lost)

    @property
    def throughput(self) -> float:
        return self.records / self.elapsed_s if self.elapsed_s else 0.0

    @property
    def exactly_once(self) -> bool:
        return self.report.exactly_once and not self.report.out_of_order

    def figures(self) -> dict[str, Any]:
        return {"records": self.records, "kills": len(self.kills), "elapsed_s": round(self.elapsed_s, 1),
                "throughput_per_s": round(self.throughput), "duplicates": self.duplicates, "lost": self.lost,
                "out_of_order": len(self.report.out_of_order), "copier_runs": self.copier_runs,
                "transactions_aborted": self.transactions_aborted}

    def describe(self) -> str:
        kills = "; ".join(f"{k.target.replace('_', ' ')} node {k.node} at {k.at_committed} committed "
                          f"(new node after {k.failover_s:.1f} s, back in sync after {k.back_s:.1f} s"
                          + (f", copier held {k.held_s:.1f} s)" if k.held_s else ")")
                          for k in self.kills)
        verdict = ("output == input: every record once, in order per partition" if self.exactly_once
                   else f"NOT exactly once: {self.report.summary()}")
        return (f"The exactly-once copier moved {self.records} records ({self.partitions} partitions, "
                f"{self.records_per_transaction} per transaction) across a replication-factor-3 cluster "
                f"(min.insync.replicas=2) in {self.elapsed_s:.1f} s ({self.throughput:.0f} records/s) while "
                f"{len(self.kills)} nodes were killed in turn: {kills or 'none'}. "
                f"{''.join(note + '. ' for note in self.notes)}The copier ran "
                f"{self.copier_runs} time(s) and aborted {self.transactions_aborted} transaction(s). "
                f"{verdict}; {self.duplicates} duplicates, {self.lost} lost.")


def produce_input(cluster: Cluster, topic: str, records: int, partitions: int) -> list[int]:
    """Records ``id:0..`` into ``topic``, id ``n`` into partition ``n % partitions`` (key ``p<n>``)."""
    producer = make_producer({"acks": "all", "enable.idempotence": True, "linger.ms": 20,
                              "batch.size": 256 * 1024}, bootstrap_servers=cluster.bootstrap)
    failed: list[str] = []
    for n in range(records):
        partition = n % partitions
        while True:
            try:
                producer.produce(topic, record_value(n), key=f"p{partition}".encode(), partition=partition,
                                 on_delivery=lambda e, _m: e is not None and failed.append(e.name()))
                break
            except BufferError:
                producer.poll(0.1)
        if n % 1000 == 0:
            producer.poll(0)
    if producer.flush(120) or failed:
        raise EoslabError(f"the input was not written: {len(failed)} records failed ({failed[:1]}); is the cluster healthy?")
    return list(range(records))


def committed_progress(cluster: Cluster, group: str, topic: str, partitions: int) -> int:
    """How many input records the group has committed (the sum of its committed offsets)."""
    consumer = make_consumer({"group.id": group, "enable.auto.commit": False}, bootstrap_servers=cluster.bootstrap)
    try:
        offsets = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=5)
        return sum(max(tp.offset, 0) for tp in offsets)
    except Exception:  # noqa: BLE001 - a coordinator moving: ask again later
        return -1
    finally:
        consumer.close()


def wait_node_in_sync(cluster: Cluster, node: int, topics: list[str], timeout_s: float = IN_SYNC_TIMEOUT_S) -> None:
    """Wait until ``node`` is in the ISR of every partition it holds of ``topics`` (and the internal ones)."""
    names = [*topics, *INTERNAL_TOPICS]

    def in_sync() -> bool:
        admin = make_admin(bootstrap_servers=cluster.bootstrap)
        metadata = admin.list_topics(timeout=5)
        for name in names:
            found = metadata.topics.get(name)
            if found is None:
                continue
            for partition in found.partitions.values():
                if node in partition.replicas and (node not in partition.isrs or partition.leader < 0):
                    return False
        return True

    until(in_sync, timeout_s, f"node {node} back in the ISR of every partition it holds")


def run_pipeline_under_failover(cluster: Cluster | None = None, *, records: int = 20_000, partitions: int = 2,
                                records_per_transaction: int = 500, kills: tuple[str, ...] = KILL_TARGETS,
                                process_delay_s: float = 0.0, timeout_s: float = 300.0) -> PipelineFailoverResult:
    """Copy ``records`` exactly once while the nodes named by ``kills`` die in turn; verify the output."""
    cluster = require_cluster(cluster)
    unknown = [k for k in kills if k not in KILL_TARGETS]
    if unknown:
        raise EoslabError(f"kills={unknown}: choose among {', '.join(KILL_TARGETS)}")
    if records < 1 or partitions < 1:
        raise EoslabError("records and partitions must be at least 1")
    deadline = time.monotonic() + timeout_s
    config = {"min.insync.replicas": "2"}
    input_topic = create_replicated_topic(cluster, "failover-in", partitions=partitions, config=config)
    output_topic = create_replicated_topic(cluster, "failover-out", partitions=partitions, config=config)
    group, transactional_id = unique_name("failover-copier"), unique_name("failover-copier")
    killed: list[int] = []
    done_kills: list[Kill] = []
    notes: list[str] = []
    worker: Worker | None = None
    runs = 0
    aborted = 0
    try:
        sent = produce_input(cluster, input_topic, records, partitions)

        def start() -> Worker:
            nonlocal runs
            runs += 1
            return start_pipeline(input_topic, output_topic, group, transactional_id, bootstrap=cluster.bootstrap,
                                  records_per_transaction=records_per_transaction, process_delay_s=process_delay_s,
                                  idle_exit_s=30.0, max_lifetime_s=timeout_s, name=f"failover-copier-{runs}")

        def keep_copier_running() -> int:
            """The committed progress; restarts the copier if it has exited before the end."""
            nonlocal worker, aborted
            progress = committed_progress(cluster, group, input_topic, partitions)
            assert worker is not None
            if not worker.alive and progress < records:
                status = worker.status
                aborted += status.transactions_aborted
                notes.append(f"copier run {runs} ended: {status.describe()}")
                worker = start()
            return progress

        def restart_holding_the_copier(node: int, next_mark: int | None) -> float:
            """Restart ``node`` and wait until it is back in every ISR. Meanwhile the copier copies,
            but once it has committed ``next_mark`` records it is held (SIGSTOP) until the node is
            back: the next kill must find it still copying, however fast this machine is."""
            failure: list[BaseException] = []

            def bring_back() -> None:
                try:
                    cluster.restart(node)
                    wait_node_in_sync(cluster, node, [input_topic, output_topic])
                except BaseException as error:  # noqa: BLE001 - re-raised in the caller's thread
                    failure.append(error)

            helper = threading.Thread(target=bring_back, name=f"restart-node-{node}", daemon=True)
            helper.start()
            held_at = None
            while helper.is_alive():
                if time.monotonic() > deadline:
                    raise EoslabError(f"node {node} was not back within the run's {timeout_s:.0f} s")
                if held_at is None and next_mark is not None and worker is not None and worker.alive \
                        and keep_copier_running() >= next_mark:
                    worker.pause()
                    held_at = time.monotonic()
                helper.join(0.3)
            if held_at is not None and worker is not None and worker.alive:
                worker.resume()
            if failure:
                raise failure[0]
            return time.monotonic() - held_at if held_at is not None else 0.0

        started = time.monotonic()
        worker = start()
        for index, target in enumerate(kills):
            # Early marks (1/5, 2/5, 3/5 of the input for three kills): a node's restart takes
            # seconds, and the copier must still be copying when the next one dies.
            mark = records * (index + 1) // (len(kills) + 2)
            until(lambda: keep_copier_running() >= mark, deadline - time.monotonic(),
                  f"the copier committing {mark} records before killing the {target.replace('_', ' ')}")
            at = max(keep_copier_running(), 0)
            if target == "coordinator":
                node = until(lambda: transaction_coordinator(cluster, transactional_id), 15, "the coordinator")
            else:
                node = until(lambda: cluster.leader_of(input_topic if target == "input_leader" else output_topic, 0),
                             15, f"the {target.replace('_', ' ')}")
            cluster.kill(node)
            killed.append(node)
            killed_at = time.monotonic()
            if target == "coordinator":
                until(lambda: (lambda n: n if n not in (None, node) else None)(
                    transaction_coordinator(cluster, transactional_id)), 30, "a new transaction coordinator")
            else:
                new_leader(cluster, input_topic if target == "input_leader" else output_topic, 0, node)
            failover_s = time.monotonic() - killed_at
            next_mark = records * (index + 2) // (len(kills) + 2) if index + 1 < len(kills) else None
            held_s = restart_holding_the_copier(node, next_mark)
            killed.remove(node)
            done_kills.append(Kill(target, node, at, failover_s, time.monotonic() - killed_at, at < records, held_s))
        until(lambda: keep_copier_running() >= records, deadline - time.monotonic(),
              f"the copier committing all {records} records")
        elapsed = time.monotonic() - started
        late = [k.target for k in done_kills if not k.mid_copy]
        if late:
            notes.append(f"the copier had committed everything before these kills: {late}; slow it down "
                         f"(process_delay_s) or copy more records")
        worker.kill()  # every input offset is committed: nothing is lost by stopping it hard
        aborted += worker.status.transactions_aborted
        output = read_records(output_topic, "read_committed", timeout_s=max(30.0, deadline - time.monotonic()),
                              bootstrap_servers=cluster.bootstrap)
        report = verify(sent, [record for _, record in output], order_group=lambda n: int(n) % partitions)
        return PipelineFailoverResult(records, partitions, records_per_transaction, done_kills, elapsed, runs,
                                      report, aborted, notes)
    finally:
        if worker is not None:
            worker.close()
        restore(cluster, killed)
        delete_topics([input_topic, output_topic], bootstrap_servers=cluster.bootstrap)


__all__ = ["KILL_TARGETS", "Kill", "PipelineFailoverResult", "run_pipeline_under_failover"]
