"""Durability demos on the three-node cluster: what ``acks``, ``min.insync.replicas`` and unclean
leader election really buy when a partition's leader dies.

    from eoslab.broker import Cluster
    from eoslab.workers import compare_acks, compare_unclean_election, transaction_across_coordinator_kill
    acks_1, acks_all = compare_acks(cluster)   # one fault, two topics: acks=1 loses, acks=all does not
    print(acks_1.describe())

Each demo creates its own topics, breaks the cluster in a bounded way, measures, and puts the
cluster back (every node running, no cut) before it returns, so demos can follow each other on one
cluster. Every wait has a deadline (an :class:`~eoslab.errors.EoslabError` says which one passed).

- :func:`leader_failover` (and :func:`compare_acks`, the same fault for ``acks=1`` and for
  ``acks=all`` + ``min.insync.replicas=2`` side by side): both followers are cut off (paused with
  SIGSTOP: no replication, no controller traffic), records are produced, the leader is SIGKILLed,
  the followers resume, and a follower that never left the ISR becomes leader. The ISR cannot
  shrink during the cut (the controllers have no quorum without the followers), so ``acks=1``
  records are acknowledged past the high watermark and lost, and ``acks=all`` records wait until
  the new leader takes them (the idempotent producer's retries). Result: :class:`FailoverResult`.
- :func:`unclean_election` (and :func:`compare_unclean_election`): a two-replica topic whose
  follower was paused long enough to leave the ISR (the active controller is the third node, so
  the controllers keep their quorum); the leader dies; only the out-of-sync replica
  survives. Off: no leader (unavailable) until the old leader returns, nothing lost. On: the
  out-of-sync replica leads at once, and the records it never had are gone. Two replicas, because
  on three combined broker+controller nodes two dead nodes are also a lost controller quorum, and
  then no election happens at all. Result: :class:`UncleanResult`.
- :func:`transaction_across_coordinator_kill`: transactions before, across and after a SIGKILL of
  the transaction coordinator's node; a read_committed reader sees each committed record once and
  no aborted one (read_uncommitted sees the aborted ones too). Result: :class:`CoordinatorKillResult`.

Assumptions: a cluster the course runs (:class:`eoslab.broker.Cluster`, at least three nodes, all
running), its short ``replica.lag.time.max.ms`` and ``broker.session.timeout.ms``
(:mod:`eoslab.broker.properties`); the topics' own settings are set per topic.
Why pause and not :meth:`Cluster.isolate`: a cut-off node must stop replicating *and* stop taking
part in the controllers' quorum. The relay does not cut the quorum traffic of the active controller
(isolated, it kept its quorum and fenced the other brokers), so a paused node (SIGSTOP: it answers
nothing) is the reliable cut. A paused follower's last fetch is drained first (``FETCH_DRAIN_S``).

- :func:`settings_with_one_node_down`, :func:`settings_through_failover`, :func:`effective_settings`
  (assignment 02's hidden tests, and its ``NOT_ENOUGH_REPLICAS`` demo): a learner's replication
  factor, topic and producer settings (:func:`durable_settings`) through the leader failover above,
  through a leader killed and left down (with ``min.insync.replicas`` equal to the replication
  factor the shrunken ISR refuses every ``acks=all`` write: ``NOT_ENOUGH_REPLICAS``, reported as
  such when the producer does not retry), and as the broker describes the topic.

Every demo holds the cluster's :meth:`~eoslab.broker.Cluster.exclusive` lock while it runs (a second
demo or grading run waits), and first brings back a node an interrupted demo left down or paused.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, TypeVar

from confluent_kafka import KafkaError, KafkaException, Message
from confluent_kafka.admin import NewTopic

from ..broker import Cluster, ReplicaOffsets
from ..errors import EoslabError
from ..kafka.clients import delete_topics, make_admin, make_producer, unique_name
from ..lessons.verifier import read_ids, record_id, record_value

#: How long a node that stops heartbeating keeps its leaderships, and how long after that a new
#: leader is in the metadata (the controller's election and the metadata's propagation).
FAILOVER_TIMEOUT_S = 30.0
ISR_TIMEOUT_S = 30.0
REJOIN_TIMEOUT_S = 45.0
#: A follower's fetch waits at the leader for up to replica.fetch.wait.max.ms (500 ms) for new
#: records; one still waiting when the follower is paused would be answered into its socket and
#: appended on resume. Records are produced only after the paused follower's last fetch is answered.
FETCH_DRAIN_S = 1.5
DELIVERY_TIMEOUT_MS = 40000


# ---- small tools shared by the demos and the failover pipeline ----------------------------------

MARKERS_TIMEOUT_S = 20.0  # how long a read_committed reader may wait for commit markers after a failover


def until(condition: Callable[[], Any], timeout_s: float, what: str, interval_s: float = 0.2) -> Any:
    """Poll ``condition`` until it returns something true; raise EoslabError naming ``what`` if not in time."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            value = condition()
        except EoslabError:
            value = None  # no node answered this time: ask again until the deadline
        if value:
            return value
        if time.monotonic() > deadline:
            raise EoslabError(f"{what} did not happen within {timeout_s:.0f} s; look at `eoslab cluster status` "
                              f"and `eoslab cluster logs N`")
        time.sleep(interval_s)


_Demo = TypeVar("_Demo", bound=Callable[..., Any])


def one_fault_at_a_time(demo: _Demo) -> _Demo:
    """Run ``demo`` holding the cluster's :meth:`~eoslab.broker.Cluster.exclusive` lock: two demos
    that kill and pause the same nodes at once (a panel and a grading run, two test processes) would
    break each other's faults. The cluster is the ``cluster`` argument, or the course's own."""
    @functools.wraps(demo)
    def run(*args: Any, **kwargs: Any) -> Any:
        found = kwargs.get("cluster") or next((arg for arg in args if isinstance(arg, Cluster)), None)
        with (found or Cluster()).exclusive():
            return demo(*args, **kwargs)
    return run  # type: ignore[return-value]


def require_cluster(cluster: Cluster | None) -> Cluster:
    cluster = cluster or Cluster()
    if len(cluster.nodes) < 3:
        raise EoslabError(f"the durability demos need a cluster of at least 3 nodes, this one has {len(cluster.nodes)}; "
                          "`eoslab cluster stop` then `eoslab cluster start --nodes 3`")
    nodes = cluster.status().nodes
    if not any(node.running for node in nodes):
        raise EoslabError("the cluster is not running; `eoslab cluster start` first")
    # Called under the cluster's exclusive lock, so nothing breaks nodes on purpose right now: a
    # node left down or paused (a demo interrupted with the stop button) is brought back first.
    down = [node.id for node in nodes if not node.running]
    paused = [node.id for node in nodes if node.running and node.paused]
    if down or paused:
        restore(cluster, down, paused)
    return cluster


def create_replicated_topic(cluster: Cluster, prefix: str, *, replicas: list[int] | None = None,
                            partitions: int = 1, config: dict[str, str] | None = None) -> str:
    """A fresh topic: ``replicas`` (leader first) for one partition, else three replicas per partition."""
    name = unique_name(prefix)
    admin = make_admin(bootstrap_servers=cluster.bootstrap)
    if replicas:
        topic = NewTopic(name, partitions, replica_assignment=[list(replicas)] * partitions, config=config or {})
    else:
        topic = NewTopic(name, partitions, 3, config=config or {})
    admin.create_topics([topic], operation_timeout=15, request_timeout=15)[name].result(timeout=30)
    until(lambda: all(cluster.leader_of(name, p) is not None for p in range(partitions)), ISR_TIMEOUT_S,
          f"a leader for every partition of {name}")
    return name


def wait_in_sync(cluster: Cluster, topic: str, partition: int = 0, timeout_s: float = REJOIN_TIMEOUT_S) -> None:
    """Wait until every replica of the partition is in its ISR."""
    replicas = set(cluster.replicas_of(topic, partition))
    until(lambda: set(cluster.isr_of(topic, partition)) == replicas, timeout_s,
          f"every replica of {topic}[{partition}] in the ISR")


def new_leader(cluster: Cluster, topic: str, partition: int, old: int, timeout_s: float = FAILOVER_TIMEOUT_S) -> int:
    return int(until(lambda: (lambda n: n if n not in (None, old) else None)(cluster.leader_of(topic, partition)),
                     timeout_s, f"a new leader for {topic}[{partition}] after node {old} died"))


def restore(cluster: Cluster, killed: list[int], paused: list[int] | None = None) -> None:
    """Resume every paused node, end every cut and restart every killed node: the cluster as the
    demo found it."""
    for node_id in paused or []:
        if cluster.node(node_id).is_paused():
            cluster.resume(node_id)
    try:
        cluster.heal()
    except EoslabError:
        pass  # no relay: nothing is cut
    for node_id in killed:
        if not cluster.node(node_id).is_running():
            cluster.restart(node_id)


def partition_as_seen_by(cluster: Cluster, node_id: int, topic: str, partition: int = 0) -> tuple[int | None, list[int]]:
    """(leader, ISR) as node ``node_id`` answers a metadata request.

    :meth:`Cluster.isr_of` asks whichever node answers first, and a node that is cut off still
    answers clients, with the metadata it had when the cut began; ask a node that is not cut off."""
    admin = make_admin(bootstrap_servers=f"127.0.0.1:{cluster.ports.client(node_id)}")
    try:
        found = admin.list_topics(topic, timeout=5).topics.get(topic)
    except KafkaException:
        return None, []
    if found is None or partition not in found.partitions:
        return None, []
    info = found.partitions[partition]
    return (info.leader if info.leader >= 0 else None), sorted(info.isrs)


def offsets_seen_by(cluster: Cluster, node_id: int, topic: str, partition: int = 0) -> ReplicaOffsets:
    """:meth:`Cluster.replica_offsets` with the leader and ISR as node ``node_id`` has them."""
    offsets = cluster.replica_offsets(topic, partition)
    leader, isr = partition_as_seen_by(cluster, node_id, topic, partition)
    return replace(offsets, leader=leader, isr=isr)


def active_controller(cluster: Cluster) -> int | None:
    """The node leading the controllers' quorum (the active controller), from each node's
    ``__cluster_metadata-0/quorum-state`` file (the highest epoch wins); None if no file names one."""
    best: tuple[int, int] | None = None
    for node in cluster.nodes:
        try:
            state = json.loads((node.data_dir / "__cluster_metadata-0" / "quorum-state").read_text())
        except (OSError, ValueError):
            continue
        leader, epoch = int(state.get("leaderId", -1)), int(state.get("leaderEpoch", -1))
        if leader > 0 and (best is None or epoch > best[1]):
            best = (leader, epoch)
    return best[0] if best else None


def java_string_hash(text: str) -> int:
    """Java's ``String.hashCode`` (UTF-16 code units), which places a transactional id on a coordinator."""
    value = 0
    data = text.encode("utf-16-be")
    for i in range(0, len(data), 2):
        value = (31 * value + int.from_bytes(data[i:i + 2], "big")) & 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def transaction_coordinator(cluster: Cluster, transactional_id: str) -> int | None:
    """The node coordinating ``transactional_id``: the leader of its ``__transaction_state`` partition
    (``abs(hashCode) % partitions``, as the broker computes it). None if that partition has no leader."""
    admin = make_admin(bootstrap_servers=cluster.bootstrap)
    metadata = admin.list_topics("__transaction_state", timeout=10)
    topic = metadata.topics.get("__transaction_state")
    if topic is None or not topic.partitions:
        raise EoslabError("the cluster has no __transaction_state topic yet; call init_transactions() first")
    partition = (java_string_hash(transactional_id) & 0x7FFFFFFF) % len(topic.partitions)
    return cluster.leader_of("__transaction_state", partition)


class _Deliveries:
    """Every record's delivery result, with when it came (seconds after the first send)."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.results: dict[int, tuple[str | None, float]] = {}
        self.lock = threading.Lock()

    def callback(self, error: KafkaError | None, message: Message) -> None:
        with self.lock:
            self.results[int(record_id(message.value()))] = (None if error is None else error.name(),
                                                              time.monotonic() - self.started)

    def acked(self) -> list[int]:
        with self.lock:
            return sorted(n for n, (error, _) in self.results.items() if error is None)


def _produce(producer: Any, topic: str, ids: range, deliveries: _Deliveries) -> None:
    for n in ids:
        producer.produce(topic, record_value(n), on_delivery=deliveries.callback)
        producer.poll(0)


def _show_ids(ids: list[int], limit: int = 8) -> str:
    if not ids:
        return "none"
    if ids == list(range(ids[0], ids[-1] + 1)) and len(ids) > 2:
        return f"{ids[0]}–{ids[-1]}"
    return ", ".join(map(str, ids[:limit])) + (f" … ({len(ids)} in all)" if len(ids) > limit else "")


def offsets_text(offsets: ReplicaOffsets) -> str:
    """``node 1 (leader): log end 40 · node 2: 20 … · HW 20 · ISR [1, 2, 3]``."""
    parts = []
    for node, end in sorted(offsets.log_end.items()):
        if end is None:
            continue
        role = " (leader)" if node == offsets.leader else ""
        parts.append(f"node {node}{role}: log end {end}")
    hw = "none (no leader)" if offsets.high_watermark is None else str(offsets.high_watermark)
    return f"{' · '.join(parts)} · HW {hw} · ISR {offsets.isr}"


# ---- a and b: acks=1 against acks=all under the same leader failover ---------------------------

@dataclass(frozen=True)
class FailoverResult:
    """One producer setting through a leader failover (:func:`leader_failover`)."""

    topic: str
    acks: str
    min_insync_replicas: int
    old_leader: int
    new_leader: int | None            # None: no replica was left to lead (replication factor 1)
    baseline: int                     # records written (and replicated) before the fault
    sent: list[int]                   # ids sent while the followers were cut off
    acked: list[int]                  # every id acknowledged, baseline included
    acked_before_kill: list[int]      # ids of ``sent`` acknowledged while the old leader lived
    errors: dict[int, str]            # id -> the error its delivery report gave
    present: list[int]                # ids in the partition after the failover
    lost: list[int]                   # acknowledged and gone: the durability failure
    before_cut: ReplicaOffsets
    before_kill: ReplicaOffsets
    after: ReplicaOffsets
    failover_s: float
    ack_delay_s: dict[int, float] = field(default_factory=dict)  # id -> seconds from send to its result
    replication_factor: int = 3

    @property
    def waited(self) -> list[int]:
        """Sent during the cut, acknowledged only after the failover: the producer waited."""
        return [n for n in self.acked if n in set(self.sent) and n not in set(self.acked_before_kill)]

    def errors_by_name(self) -> dict[str, list[int]]:
        grouped: dict[str, list[int]] = {}
        for n, name in sorted(self.errors.items()):
            grouped.setdefault(name, []).append(n)
        return grouped

    def describe(self) -> str:
        setting = (f"acks={self.acks}, min.insync.replicas={self.min_insync_replicas}, "
                   f"replication factor {self.replication_factor}")
        followers = {1: "it has no followers", 2: "its follower was cut off (paused)"}.get(
            self.replication_factor, "both followers were cut off (paused)")
        text = (f"With {setting}: {self.baseline} records were written and replicated, then {followers} and "
                f"{len(self.sent)} more were sent to node {self.old_leader} (the leader). Before the "
                f"leader was killed, {len(self.acked_before_kill)} of them were acknowledged while the high "
                f"watermark stayed at {self.before_kill.high_watermark} "
                f"(the leader's log ended at {self.before_kill.log_end.get(self.old_leader)}). ")
        if self.new_leader is None:
            text += "No other replica was left to lead: the partition died with its only node. "
        else:
            text += f"Node {self.new_leader}, still in the ISR, became leader after {self.failover_s:.1f} s. "
        if self.lost:
            text += (f"{len(self.lost)} acknowledged records no longer exist ({_show_ids(self.lost)}): "
                     f"the producer was told they were written, and they are gone. ")
        else:
            text += f"No acknowledged record was lost ({len(self.acked)} acknowledged, all present). "
        if self.waited:
            slowest = max(self.ack_delay_s.get(n, 0.0) for n in self.waited)
            text += (f"The producer waited: {len(self.waited)} records were acknowledged only after the new leader "
                     f"had them (up to {slowest:.1f} s after they were sent). ")
        for name, ids in self.errors_by_name().items():
            text += f"{len(ids)} records got {name} ({_show_ids(ids)}) and were not acknowledged. "
        return text.strip()


@one_fault_at_a_time
def leader_failover(cluster: Cluster | None = None, *, acks: str = "1", min_insync_replicas: int = 1,
                    baseline: int = 20, records: int = 20) -> FailoverResult:
    """acks/min.insync through one leader failover; see :func:`compare_acks` for both side by side."""
    return _leader_failover(require_cluster(cluster), [_demo_setup(acks, min_insync_replicas)], baseline, records)[0]


@one_fault_at_a_time
def compare_acks(cluster: Cluster | None = None, *, baseline: int = 20,
                 records: int = 20) -> tuple[FailoverResult, FailoverResult]:
    """The same fault for ``acks=1`` (RF=3) and for ``acks=all`` + ``min.insync.replicas=2`` (RF=3):
    two topics with the same leader and followers, one cut, one kill."""
    one, every = _leader_failover(require_cluster(cluster), [_demo_setup("1", 1), _demo_setup("all", 2)],
                                  baseline, records)
    return one, every


@dataclass(frozen=True)
class _Setup:
    """One topic and its producer in a failover: how many replicas, the topic's and the producer's settings."""

    replication_factor: int
    topic_config: dict[str, str]
    producer_config: dict[str, Any]

    @property
    def acks(self) -> str:
        acks = str(self.producer_config.get("acks", self.producer_config.get("request.required.acks", "all")))
        return "all" if acks == "-1" else acks

    @property
    def min_insync_replicas(self) -> int:
        return int(self.topic_config.get("min.insync.replicas", 1))


def _demo_setup(acks: str, min_isr: int) -> _Setup:
    if acks not in ("0", "1", "all", "-1"):
        raise EoslabError(f"acks={acks!r} is not a producer setting: use '1' or 'all'")
    # Idempotence needs acks=all; with it, records retried to the new leader are written once.
    return _Setup(3, {"min.insync.replicas": str(min_isr)},
                  {"acks": acks, "enable.idempotence": acks in ("all", "-1")})


def _leader_failover(cluster: Cluster, setups: list[_Setup], baseline: int,
                     records: int) -> list[FailoverResult]:
    leader = 1
    topics = [create_replicated_topic(cluster, f"acks-{setup.acks}",
                                      replicas=list(range(1, setup.replication_factor + 1)),
                                      config=setup.topic_config) for setup in setups]
    followers = sorted({n for setup in setups for n in range(2, setup.replication_factor + 1)})
    producers, deliveries = [], []
    for setup in setups:
        config: dict[str, Any] = {"linger.ms": 5, "delivery.timeout.ms": DELIVERY_TIMEOUT_MS,
                                  "request.timeout.ms": 10000, **setup.producer_config}
        producers.append(make_producer(config, bootstrap_servers=cluster.bootstrap))
        deliveries.append(_Deliveries())
    killed: list[int] = []
    paused: list[int] = []
    try:
        for producer, topic, record in zip(producers, topics, deliveries):
            wait_in_sync(cluster, topic)
            _produce(producer, topic, range(baseline), record)
            if producer.flush(30) or len(record.acked()) != baseline:
                raise EoslabError(f"the baseline records of {topic} were not all acknowledged within 30 s")
        for topic in topics:
            until(lambda t=topic: {end for end in cluster.replica_offsets(t).log_end.values() if end is not None}
                  == {baseline}, 20, f"every replica of {topic} holding the {baseline} baseline records")
        before_cut = [cluster.replica_offsets(topic) for topic in topics]
        # Paused, not isolated: a paused node answers nothing, to the other controllers either, so
        # with both followers paused the controllers have no quorum and the ISR cannot shrink.
        # (The cluster's isolate() does not cut the controllers' quorum traffic when the cut node
        # is the active controller: its voters reach it at its own address.)
        for follower in followers:
            cluster.pause(follower)
            paused.append(follower)
        time.sleep(FETCH_DRAIN_S)
        sent = range(baseline, baseline + records)
        for producer, topic, record in zip(producers, topics, deliveries):
            _produce(producer, topic, sent, record)
        # acks=1: the leader answers at once. acks=all: nothing can come; give it a moment to show that.
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            for producer in producers:
                producer.poll(0.05)
            if all(len(r.acked()) == baseline + records for r in deliveries):
                break
        until(lambda: all(cluster.replica_offsets(t).log_end.get(leader) == baseline + records for t in topics), 10,
              "the leader's log holding every record sent during the cut")
        acked_before = [[n for n in r.acked() if n >= baseline] for r in deliveries]
        before_kill = [cluster.replica_offsets(topic) for topic in topics]
        cluster.kill(leader)
        killed.append(leader)
        killed_at = time.monotonic()
        for follower in followers:
            cluster.resume(follower)
        paused.clear()
        # A partition with no other replica has no one to lead it (replication factor 1).
        leaders = [new_leader(cluster, topic, 0, leader) if setup.replication_factor > 1 else None
                   for setup, topic in zip(setups, topics)]
        failover_s = time.monotonic() - killed_at
        for producer in producers:  # every record gets its result: acknowledged, or an error
            remaining = producer.flush(DELIVERY_TIMEOUT_MS / 1000 + 10 if any(leaders) else 0.5)
            if remaining and any(leaders):  # with no leader left, what has no result was never acknowledged
                raise EoslabError(f"{remaining} records had no delivery result within the delivery timeout")
        results = []
        for setup, topic, record, producer_leader, cut, kill_offsets, before_ack in zip(
                setups, topics, deliveries, leaders, before_cut, before_kill, acked_before):
            present = [] if producer_leader is None else sorted(
                int(i) for i in read_ids(topic, "read_uncommitted", bootstrap_servers=cluster.bootstrap))
            acked = record.acked()
            present_set = set(present)
            results.append(FailoverResult(
                topic=topic, acks=setup.acks, min_insync_replicas=setup.min_insync_replicas,
                replication_factor=setup.replication_factor, old_leader=leader,
                new_leader=producer_leader, baseline=baseline, sent=list(sent), acked=acked,
                acked_before_kill=before_ack,
                errors={n: e for n, (e, _) in record.results.items() if e is not None},
                present=present, lost=[n for n in acked if n not in present_set], before_cut=cut,
                before_kill=kill_offsets, after=cluster.replica_offsets(topic), failover_s=failover_s,
                ack_delay_s={n: t for n, (_, t) in record.results.items()}))
        return results
    finally:
        restore(cluster, killed, paused)
        for topic in topics:
            try:
                wait_in_sync(cluster, topic)
            except EoslabError:
                pass  # the next demo checks the cluster itself
        delete_topics(topics, bootstrap_servers=cluster.bootstrap)


# ---- c: unclean leader election off against on -------------------------------------------------

@dataclass(frozen=True)
class UncleanResult:
    """One topic's fate when only an out-of-sync replica survives (:func:`unclean_election`)."""

    topic: str
    unclean: bool
    leader: int
    survivor: int
    acked: list[int]                 # acknowledged ids (all of them, before the leader died)
    acked_out_of_sync: list[int]     # acknowledged while the survivor was out of the ISR
    lost: list[int]
    unavailable_s: float             # from the kill until the partition had a leader again
    leader_after: int | None         # who led it first after the kill
    waited_for_old_leader: bool      # no leader until the old leader was restarted
    before_kill: ReplicaOffsets
    after_election: ReplicaOffsets
    after: ReplicaOffsets

    @property
    def available_with_loss(self) -> bool:
        return self.leader_after == self.survivor and bool(self.lost)

    def describe(self) -> str:
        setting = f"unclean.leader.election.enable={'true' if self.unclean else 'false'}"
        text = (f"With {setting} (two replicas, nodes {self.leader} and {self.survivor}): node {self.survivor} was "
                f"paused and left the ISR; {len(self.acked_out_of_sync)} records were then acknowledged by node "
                f"{self.leader} alone, and node {self.leader} was killed, leaving only the out-of-sync replica. ")
        if self.waited_for_old_leader:
            text += (f"No leader was elected: the partition was unavailable for {self.unavailable_s:.1f} s, until "
                     f"node {self.leader} came back and led again. ")
        else:
            text += (f"Node {self.survivor} became leader {self.unavailable_s:.1f} s after the kill: available "
                     f"again at once. ")
        if self.lost:
            text += (f"{len(self.lost)} acknowledged records were lost ({_show_ids(self.lost)}); node "
                     f"{self.leader} truncated its log to the new leader's when it returned.")
        else:
            text += f"No acknowledged record was lost ({len(self.acked)} acknowledged, all present)."
        return text


@one_fault_at_a_time
def unclean_election(cluster: Cluster | None = None, *, unclean: bool = False, baseline: int = 10,
                     records: int = 20, unavailable_window_s: float = 12.0) -> UncleanResult:
    """One topic; see :func:`compare_unclean_election` for off and on under the same fault."""
    return _unclean(require_cluster(cluster), [unclean], baseline, records, unavailable_window_s)[0]


@one_fault_at_a_time
def compare_unclean_election(cluster: Cluster | None = None, *, baseline: int = 10, records: int = 20,
                             unavailable_window_s: float = 12.0) -> tuple[UncleanResult, UncleanResult]:
    """The same fault for two topics, unclean leader election off and on: (off, on)."""
    off, on = _unclean(require_cluster(cluster), [False, True], baseline, records, unavailable_window_s)
    return off, on


def _unclean(cluster: Cluster, settings: list[bool], baseline: int, records: int,
             window_s: float) -> list[UncleanResult]:
    # The bystander (no replica of the topics) is the active controller: with the survivor paused
    # and then the leader killed, the quorum is the bystander and the survivor, resumed.
    bystander = active_controller(cluster) or 3
    leader, survivor = [n for n in (1, 2, 3) if n != bystander]
    topics = [create_replicated_topic(cluster, f"unclean-{'on' if unclean else 'off'}", replicas=[leader, survivor],
                                      config={"unclean.leader.election.enable": str(unclean).lower(),
                                              "min.insync.replicas": "1"}) for unclean in settings]
    producer = make_producer({"acks": "all", "enable.idempotence": True, "linger.ms": 5,
                              "delivery.timeout.ms": 30000}, bootstrap_servers=cluster.bootstrap)
    deliveries = {topic: _Deliveries() for topic in topics}
    killed: list[int] = []
    paused: list[int] = []
    try:
        for topic in topics:
            wait_in_sync(cluster, topic)
            _produce(producer, topic, range(baseline), deliveries[topic])
        if producer.flush(30):
            raise EoslabError("the baseline records were not acknowledged within 30 s")
        cluster.pause(survivor)  # see _leader_failover: paused, not isolated
        paused.append(survivor)
        time.sleep(FETCH_DRAIN_S)
        out_of_sync = range(baseline, baseline + records)
        for topic in topics:
            # A follower whose log ends where the leader's does counts as caught up even when it
            # fetches nothing: new records are what make the cut-off follower lag and leave the ISR.
            # acks=all waits until it has left; then the ISR is the leader alone, which acknowledges.
            _produce(producer, topic, out_of_sync, deliveries[topic])
        for topic in topics:
            until(lambda t=topic: partition_as_seen_by(cluster, leader, t)[1] == [leader], ISR_TIMEOUT_S,
                  f"node {survivor} leaving the ISR of {topic}")
        if producer.flush(30):
            raise EoslabError("the records sent with one replica in the ISR were not acknowledged within 30 s")
        before_kill = {topic: offsets_seen_by(cluster, leader, topic) for topic in topics}
        cluster.kill(leader)
        killed.append(leader)
        killed_at = time.monotonic()
        cluster.resume(survivor)
        paused.clear()
        first_leader: dict[str, int | None] = {topic: None for topic in topics}
        elected_after: dict[str, float] = {}
        deadline = killed_at + window_s
        while time.monotonic() < deadline and len(elected_after) < len(topics):
            for topic in topics:
                if topic not in elected_after:
                    now_leader = partition_as_seen_by(cluster, bystander, topic)[0]
                    if now_leader not in (None, leader):
                        first_leader[topic], elected_after[topic] = now_leader, time.monotonic() - killed_at
            time.sleep(0.2)
        after_election = {topic: offsets_seen_by(cluster, bystander, topic) for topic in topics}
        cluster.restart(leader)
        killed.remove(leader)
        for topic in topics:
            if topic not in elected_after:
                until(lambda t=topic: cluster.leader_of(t, 0) is not None, FAILOVER_TIMEOUT_S,
                      f"a leader for {topic} after node {leader} came back")
                elected_after[topic] = time.monotonic() - killed_at
                first_leader[topic] = cluster.leader_of(topic, 0)
            wait_in_sync(cluster, topic)
        results = []
        for unclean, topic in zip(settings, topics):
            present = {int(i) for i in read_ids(topic, "read_uncommitted", bootstrap_servers=cluster.bootstrap)}
            acked = deliveries[topic].acked()
            results.append(UncleanResult(
                topic=topic, unclean=unclean, leader=leader, survivor=survivor, acked=acked,
                acked_out_of_sync=[n for n in acked if n >= baseline], lost=[n for n in acked if n not in present],
                unavailable_s=elected_after[topic], leader_after=first_leader[topic],
                waited_for_old_leader=first_leader[topic] == leader, before_kill=before_kill[topic],
                after_election=after_election[topic], after=cluster.replica_offsets(topic)))
        return results
    finally:
        restore(cluster, killed, paused)
        delete_topics(topics, bootstrap_servers=cluster.bootstrap)


# ---- d: transactions across a kill of the transaction coordinator ------------------------------

@dataclass(frozen=True)
class CoordinatorKillResult:
    """Transactions around a SIGKILL of the coordinator's node (:func:`transaction_across_coordinator_kill`)."""

    topic: str
    coordinator: int
    new_coordinator: int | None
    outcomes: dict[str, str]          # transaction label -> "committed" / "aborted"
    records: dict[str, list[int]]     # transaction label -> its ids
    read_committed: list[int]
    read_uncommitted: list[int]
    errors: list[str]                 # what the producer's calls raised on the way

    @property
    def committed_ids(self) -> list[int]:
        return sorted(n for label, ids in self.records.items() if self.outcomes[label] == "committed" for n in ids)

    @property
    def aborted_ids(self) -> list[int]:
        return sorted(n for label, ids in self.records.items() if self.outcomes[label] == "aborted" for n in ids)

    @property
    def duplicates(self) -> int:
        return len(self.read_committed) - len(set(self.read_committed))

    @property
    def aborted_visible(self) -> list[int]:
        """Aborted records a read_committed reader returned (none, if isolation holds)."""
        aborted = set(self.aborted_ids)
        return [n for n in self.read_committed if n in aborted]

    @property
    def exactly_once(self) -> bool:
        return sorted(self.read_committed) == self.committed_ids and self.duplicates == 0

    def describe(self) -> str:
        steps = ", ".join(f"{label}: {outcome}" for label, outcome in self.outcomes.items())
        moved = (f"node {self.new_coordinator} took over as coordinator" if self.new_coordinator
                 else "no new coordinator was seen")
        aborted_seen = len([n for n in self.read_uncommitted if n in set(self.aborted_ids)])
        text = (f"The transaction coordinator of this producer was node {self.coordinator}; it was SIGKILLed while "
                f"transaction 'across' was open, and {moved}. Transactions: {steps}. A read_committed reader "
                f"returned {len(self.read_committed)} records: {len(self.committed_ids)} committed ones expected, "
                f"{self.duplicates} duplicates, {len(self.aborted_visible)} aborted ones. A read_uncommitted reader "
                f"returned {len(self.read_uncommitted)}, {aborted_seen} of them from aborted transactions.")
        if self.errors:
            text += f" On the way the producer saw: {'; '.join(self.errors[:3])}."
        return text


@one_fault_at_a_time
def transaction_across_coordinator_kill(cluster: Cluster | None = None, *,
                                        records_per_transaction: int = 10) -> CoordinatorKillResult:
    """Transactions ``before`` (committed), ``across`` (open when the coordinator's node is killed,
    then committed — or aborted if the client says it must be), ``aborted`` (aborted on purpose
    after the failover) and ``after`` (committed), all to one RF=3 topic (min.insync.replicas=2)."""
    cluster = require_cluster(cluster)
    topic = create_replicated_topic(cluster, "txn-failover", config={"min.insync.replicas": "2"})
    transactional_id = unique_name("txn-failover")
    producer = make_producer({"transactional.id": transactional_id, "enable.idempotence": True, "acks": "all",
                              "transaction.timeout.ms": 60000, "linger.ms": 5}, bootstrap_servers=cluster.bootstrap)
    killed: list[int] = []
    outcomes: dict[str, str] = {}
    ids: dict[str, list[int]] = {}
    errors: list[str] = []
    next_id = 0

    def transaction(label: str, commit: bool, during: Callable[[], None] | None = None) -> None:
        nonlocal next_id
        ids[label] = list(range(next_id, next_id + records_per_transaction))
        next_id += records_per_transaction
        _call(producer.begin_transaction, errors)
        for n in ids[label]:
            producer.produce(topic, record_value(n))
        producer.flush(30)
        if during:
            during()
        if not commit:
            _call(lambda: producer.abort_transaction(30), errors)
            outcomes[label] = "aborted"
            return
        try:
            _call(lambda: producer.commit_transaction(30), errors)
            outcomes[label] = "committed"
        except KafkaException as raised:
            if not raised.args[0].txn_requires_abort():
                raise
            _call(lambda: producer.abort_transaction(30), errors)
            outcomes[label] = "aborted"

    try:
        wait_in_sync(cluster, topic)
        _call(lambda: producer.init_transactions(30), errors)
        coordinator = until(lambda: transaction_coordinator(cluster, transactional_id), 15,
                            "the transaction coordinator's node being known")
        transaction("before", commit=True)

        def kill_coordinator() -> None:
            cluster.kill(coordinator)
            killed.append(coordinator)

        transaction("across", commit=True, during=kill_coordinator)
        new_coordinator = until(lambda: (lambda n: n if n not in (None, coordinator) else None)(
            transaction_coordinator(cluster, transactional_id)), FAILOVER_TIMEOUT_S, "a new transaction coordinator")
        transaction("aborted", commit=False)
        transaction("after", commit=True)
        # commit_transaction() returns once the coordinator has logged the decision; it writes the
        # markers to the partitions afterwards, and a read_committed reader stops at the last stable
        # offset it sees when it starts. So read again, for a bounded time, until the markers of the
        # committed transactions are all there (a record really lost stays missing after the wait).
        expected = sum(len(ids[label]) for label, outcome in outcomes.items() if outcome == "committed")
        deadline = time.monotonic() + MARKERS_TIMEOUT_S
        while True:
            committed = [int(i) for i in read_ids(topic, "read_committed", bootstrap_servers=cluster.bootstrap)]
            if len(committed) >= expected or time.monotonic() > deadline:
                break
            time.sleep(0.5)  # the markers are written within moments of the commit
        uncommitted = [int(i) for i in read_ids(topic, "read_uncommitted", bootstrap_servers=cluster.bootstrap)]
        return CoordinatorKillResult(topic, coordinator, new_coordinator, outcomes, ids, committed, uncommitted, errors)
    finally:
        restore(cluster, killed)
        delete_topics([topic], bootstrap_servers=cluster.bootstrap)


def _call(call: Callable[[], Any], errors: list[str], attempts: int = 5) -> Any:
    """A transactional call, retried while the client says the error is retriable (a coordinator moving)."""
    for attempt in range(attempts):
        try:
            return call()
        except KafkaException as raised:
            error = raised.args[0]
            errors.append(f"{error.name()}")
            if not error.retriable() or attempt == attempts - 1:
                raise
            time.sleep(0.5)
    return None


__all__ = ["CoordinatorKillResult", "FailoverResult", "UncleanResult", "active_controller", "compare_acks", "compare_unclean_election",
           "create_replicated_topic", "leader_failover", "offsets_text", "transaction_across_coordinator_kill",
           "transaction_coordinator", "unclean_election", "until", "wait_in_sync"]


# ---- e: a learner's settings, tried against the faults above (assignment 02's hidden tests) -----

#: librdkafka's own default for acks (``request.required.acks``): -1, every replica in the ISR.
LIBRDKAFKA_DEFAULT_ACKS = "all"
ONE_DOWN_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class DurableSettings:
    """A replication factor, a topic's configuration and a producer's, as one answer."""

    replication_factor: int
    topic_config: dict[str, str]
    producer_config: dict[str, Any]

    def as_setup(self) -> _Setup:
        return _Setup(self.replication_factor, self.topic_config, self.producer_config)


def durable_settings(replication_factor: Any, topic_config: Any, producer_config: Any,
                     *, nodes: int = 3) -> DurableSettings:
    """Check the shape of the three answers; a one-line EoslabError says what is not a setting.

    Topic values become strings as Kafka takes them (``True`` -> ``"true"``); ``bootstrap.servers``
    is dropped from the producer's, since the checks choose the cluster."""
    if isinstance(replication_factor, bool) or not isinstance(replication_factor, int):
        raise EoslabError(f"the replication factor is a whole number, not {replication_factor!r}")
    if not 1 <= replication_factor <= nodes:
        raise EoslabError(f"replication factor {replication_factor}: this cluster has {nodes} nodes, so 1 to {nodes}")
    for name, config in (("topic", topic_config), ("producer", producer_config)):
        if not isinstance(config, dict) or not all(isinstance(key, str) for key in config):
            raise EoslabError(f"the {name} configuration is a dict of setting names to values, not {config!r}")
    topic = {key: (str(value).lower() if isinstance(value, bool) else str(value)) for key, value in topic_config.items()}
    producer = {key: value for key, value in producer_config.items() if key != "bootstrap.servers"}
    return DurableSettings(replication_factor, topic, producer)


@one_fault_at_a_time
def settings_through_failover(settings: DurableSettings, cluster: Cluster | None = None, *, baseline: int = 10,
                              records: int = 10) -> FailoverResult:
    """:func:`leader_failover` with these settings: the followers cut off, the leader killed."""
    return _leader_failover(require_cluster(cluster), [settings.as_setup()], baseline, records)[0]


@dataclass(frozen=True)
class OneNodeDownResult:
    """Records produced while one replica's node is down (:func:`settings_with_one_node_down`)."""

    topic: str
    replication_factor: int
    killed: int
    leader_after: int | None
    sent: list[int]
    acked: list[int]
    errors: dict[int, str]
    timeout_s: float

    @property
    def writable(self) -> bool:
        return self.leader_after is not None and self.acked == self.sent

    def describe(self) -> str:
        text = f"Node {self.killed}, the leader of a partition with {self.replication_factor} replica(s), was killed. "
        if self.leader_after is None:
            return text + f"No replica took over within {self.timeout_s:.0f} s: the partition cannot be written at all."
        text += f"Node {self.leader_after} took over; of {len(self.sent)} records sent then, {len(self.acked)} were " \
                f"acknowledged within {self.timeout_s:.0f} s."
        names = sorted(set(self.errors.values()))
        if names:
            text += f" The others got {', '.join(names)}."
        elif not self.writable:
            text += " The others are still waiting for enough replicas in the ISR."
        return text


@one_fault_at_a_time
def settings_with_one_node_down(settings: DurableSettings, cluster: Cluster | None = None, *, records: int = 10,
                                timeout_s: float = ONE_DOWN_TIMEOUT_S) -> OneNodeDownResult:
    """A topic with these settings, its leader's node killed (and left down): can it still be written?

    Every record must be acknowledged within ``timeout_s`` (the producer's own delivery timeout is
    capped to it, so that a record refused for too few replicas reports its error in time)."""
    cluster = require_cluster(cluster)
    replicas = list(range(1, settings.replication_factor + 1))
    topic = create_replicated_topic(cluster, "one-down", replicas=replicas, config=settings.topic_config)
    producer_config = {"linger.ms": 5, "request.timeout.ms": 5000, **settings.producer_config}
    for key in ("delivery.timeout.ms", "message.timeout.ms"):
        producer_config.pop(key, None)
    producer_config["delivery.timeout.ms"] = int(timeout_s * 1000)
    killed: list[int] = []
    try:
        wait_in_sync(cluster, topic)
        leader = replicas[0]
        cluster.kill(leader)
        killed.append(leader)
        leader_after: int | None = None
        if settings.replication_factor > 1:
            try:
                leader_after = new_leader(cluster, topic, 0, leader, timeout_s=timeout_s)
            except EoslabError:
                leader_after = None
        sent = list(range(records))
        deliveries = _Deliveries()
        if leader_after is not None:
            producer = make_producer(producer_config, bootstrap_servers=cluster.bootstrap)
            _produce(producer, topic, range(records), deliveries)
            producer.flush(timeout_s + 5)
        return OneNodeDownResult(topic, settings.replication_factor, leader, leader_after, sent, deliveries.acked(),
                                 {n: e for n, (e, _) in deliveries.results.items() if e is not None}, timeout_s)
    finally:
        restore(cluster, killed)
        delete_topics([topic], bootstrap_servers=cluster.bootstrap)


def effective_settings(settings: DurableSettings, cluster: Cluster | None = None) -> dict[str, str]:
    """What Kafka makes of the settings: a topic created with them, its configuration as the broker
    reports it (its own defaults filled in), and the producer's ``acks`` (librdkafka's default when
    unset). Keys: ``min.insync.replicas``, ``unclean.leader.election.enable``, ``acks``."""
    from confluent_kafka.admin import ConfigResource, ResourceType

    cluster = require_cluster(cluster)
    topic = create_replicated_topic(cluster, "effective", replicas=list(range(1, settings.replication_factor + 1)),
                                    config=settings.topic_config)
    try:
        admin = make_admin(bootstrap_servers=cluster.bootstrap)
        resource = ConfigResource(ResourceType.TOPIC, topic)

        def described() -> dict[str, Any] | None:
            # The node asked may not know a topic created a moment ago (UNKNOWN_TOPIC_OR_PART): ask again.
            try:
                return admin.describe_configs([resource], request_timeout=10)[resource].result(timeout=15)
            except KafkaException as error:
                if error.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                    return None
                raise

        entries = until(described, ISR_TIMEOUT_S, f"the cluster describing the configuration of {topic}")
        found = {key: entries[key].value for key in ("min.insync.replicas", "unclean.leader.election.enable")}
    finally:
        delete_topics([topic], bootstrap_servers=cluster.bootstrap)
    acks = str(settings.producer_config.get("acks", settings.producer_config.get("request.required.acks",
                                                                                 LIBRDKAFKA_DEFAULT_ACKS)))
    found["acks"] = "all" if acks == "-1" else acks.lower()
    return found
