"""librdkafka's statistics, read into small typed snapshots: what to monitor for exactly-once.

A client built with ``statistics.interval.ms`` > 0 and a ``stats_cb`` hands over a JSON document
every interval (STATISTICS.md in librdkafka). :func:`parse_statistics` turns one document into a
:class:`StatsSnapshot`; :class:`StatsRecorder` is a ready-made ``stats_cb`` that keeps the latest
snapshot (and a short history) for another thread — a dashboard, an alert rule, a test.

What a snapshot carries:

- producers: the idempotence and transaction state (``eos`` block: ``idemp_state``,
  ``txn_state``, ``txn_may_enq``, ``producer_id``, ``producer_epoch``, ``epoch_cnt``), messages
  queued and in flight, requests and messages sent and received;
- consumers: per partition the high watermark (``hi_offset``), the last stable offset
  (``ls_offset``), the committed offset, librdkafka's own ``consumer_lag``, and the lag measured
  against the LSO, which is the only honest lag for a read_committed consumer.

Assumptions and limits:

- How long the transaction state has lasted is measured HERE, from the statistics' own
  monotonic clock (``ts``) across consecutive snapshots, so it is only as precise as
  ``statistics.interval.ms``. librdkafka also reports ``txn_stateage``, but (checked in its source
  up to the 2.16 the Python client bundles) it never records when the state changed, so that figure
  is the age of librdkafka's clock, not of the state; it is kept as ``reported_txn_stateage_ms``
  for comparison and never used. ``idemp_stateage`` is correct and used as is.
- Offsets librdkafka does not know yet are -1001 (``OFFSET_INVALID``); lags are ``None`` then.
- Statistics are emitted from ``poll()``/``flush()``/``consume()`` calls: a client that is not
  polled produces no snapshots (which is itself worth alerting on: see ``age_s``).
"""

from __future__ import annotations

import collections
import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

INVALID_OFFSET = -1001
#: Transaction states in which records of an open transaction may be sitting in the log.
OPEN_TRANSACTION_STATES = frozenset({"InTransaction", "BeginCommit", "BeginAbort", "AbortableError"})


@dataclass(frozen=True)
class PartitionStats:
    """One partition as a client sees it. Offsets are ``None`` while unknown."""

    topic: str
    partition: int
    high_watermark: int | None = None         # hi_offset: end of the log, open transactions included
    last_stable_offset: int | None = None     # ls_offset: first offset of the oldest open transaction, or the end
    low_watermark: int | None = None          # lo_offset
    committed_offset: int | None = None       # the group's committed offset (next record to read)
    position: int | None = None               # app_offset: last record handed to the application + 1
    reported_consumer_lag: int | None = None  # librdkafka's consumer_lag
    messages_in_flight: int = 0               # msgs_inflight (producer)
    messages_queued: int = 0                  # msgq_cnt + xmit_msgq_cnt (producer)

    @property
    def lag_against_lso(self) -> int | None:
        """Records a read_committed consumer still has to read: LSO minus the committed offset.

        Note it counts offsets, and commit/abort markers occupy offsets too, so a consumer that
        committed right after a record but before the next marker shows a lag of one.
        """
        if self.last_stable_offset is None or self.committed_offset is None:
            return None
        return max(0, self.last_stable_offset - self.committed_offset)

    @property
    def lag_against_high_watermark(self) -> int | None:
        """The read_uncommitted lag; for read_committed it overstates by the open transactions."""
        if self.high_watermark is None or self.committed_offset is None:
            return None
        return max(0, self.high_watermark - self.committed_offset)

    @property
    def open_transaction_span(self) -> int | None:
        """High watermark minus LSO: offsets a read_committed consumer cannot read yet."""
        if self.high_watermark is None or self.last_stable_offset is None:
            return None
        return max(0, self.high_watermark - self.last_stable_offset)


@dataclass(frozen=True)
class StatsSnapshot:
    """One statistics document from one client, with the fields that matter for exactly-once."""

    client_name: str
    client_type: str                   # "producer" or "consumer"
    monotonic_us: int = 0              # ts: librdkafka's monotonic clock, microseconds
    wall_time_s: int = 0               # time: seconds since the epoch
    # eos block (producers with enable.idempotence or a transactional.id; else the defaults)
    idempotence_state: str | None = None
    idempotence_state_age_ms: int | None = None
    txn_state: str | None = None
    txn_state_age_s: float | None = None    # measured across snapshots, see the module docstring
    txn_may_enqueue: bool | None = None
    producer_id: int = -1
    producer_epoch: int = -1
    producer_id_assignments: int = 0   # epoch_cnt: how often a producer id/epoch was assigned
    reported_txn_stateage_ms: int | None = None  # librdkafka's figure; not the state's age (see above)
    # traffic
    messages_queued: int = 0           # msg_cnt: produced but not yet acknowledged or failed
    messages_in_flight: int = 0        # sum of partitions' msgs_inflight
    requests_sent: int = 0             # tx
    responses_received: int = 0        # rx
    messages_sent: int = 0             # txmsgs
    messages_received: int = 0         # rxmsgs
    partitions: tuple[PartitionStats, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def is_transaction_open(self) -> bool:
        return self.txn_state in OPEN_TRANSACTION_STATES

    @property
    def max_lag_against_lso(self) -> int | None:
        """The largest LSO lag over the partitions that have one (consumers), else None."""
        lags = [p.lag_against_lso for p in self.partitions if p.lag_against_lso is not None]
        return max(lags) if lags else None

    def partition(self, topic: str, partition: int = 0) -> PartitionStats | None:
        return next((p for p in self.partitions if p.topic == topic and p.partition == partition), None)


def _offset(value: Any) -> int | None:
    return None if value is None or int(value) < 0 else int(value)


def _partitions(document: dict[str, Any]) -> tuple[PartitionStats, ...]:
    found = []
    for topic_name, topic in document.get("topics", {}).items():
        for key, p in topic.get("partitions", {}).items():
            if int(key) < 0:
                continue  # librdkafka's internal "unassigned" partition
            found.append(PartitionStats(
                topic=topic_name,
                partition=int(key),
                high_watermark=_offset(p.get("hi_offset")),
                last_stable_offset=_offset(p.get("ls_offset")),
                low_watermark=_offset(p.get("lo_offset")),
                committed_offset=_offset(p.get("committed_offset")),
                position=_offset(p.get("app_offset")),
                reported_consumer_lag=_offset(p.get("consumer_lag")),
                messages_in_flight=int(p.get("msgs_inflight", 0)),
                messages_queued=int(p.get("msgq_cnt", 0)) + int(p.get("xmit_msgq_cnt", 0)),
            ))
    return tuple(sorted(found, key=lambda p: (p.topic, p.partition)))


def parse_statistics(document: str | bytes | dict[str, Any], previous: StatsSnapshot | None = None) -> StatsSnapshot:
    """Read one statistics document; ``previous`` (same client) lets the transaction state age grow.

    Without ``previous`` (or after a state change) the state's age starts at 0 at this snapshot.
    """
    data = document if isinstance(document, dict) else json.loads(document)
    eos = data.get("eos") or {}
    partitions = _partitions(data)
    snapshot = StatsSnapshot(
        client_name=str(data.get("name", "")),
        client_type=str(data.get("type", "")),
        monotonic_us=int(data.get("ts", 0)),
        wall_time_s=int(data.get("time", 0)),
        idempotence_state=eos.get("idemp_state"),
        idempotence_state_age_ms=eos.get("idemp_stateage"),
        txn_state=eos.get("txn_state"),
        txn_may_enqueue=eos.get("txn_may_enq"),
        producer_id=int(eos.get("producer_id", -1)),
        producer_epoch=int(eos.get("producer_epoch", -1)),
        producer_id_assignments=int(eos.get("epoch_cnt", 0)),
        reported_txn_stateage_ms=eos.get("txn_stateage"),
        messages_queued=int(data.get("msg_cnt", 0)),
        messages_in_flight=sum(p.messages_in_flight for p in partitions),
        requests_sent=int(data.get("tx", 0)),
        responses_received=int(data.get("rx", 0)),
        messages_sent=int(data.get("txmsgs", 0)),
        messages_received=int(data.get("rxmsgs", 0)),
        partitions=partitions,
        raw=data,
    )
    if snapshot.txn_state is None:
        return snapshot
    age_s = 0.0
    if (previous is not None and previous.txn_state == snapshot.txn_state
            and previous.client_name == snapshot.client_name and previous.txn_state_age_s is not None):
        age_s = previous.txn_state_age_s + max(0, snapshot.monotonic_us - previous.monotonic_us) / 1e6
    return replace(snapshot, txn_state_age_s=age_s)


class StatsRecorder:
    """A ``stats_cb`` that keeps the latest snapshot and a bounded history, safe across threads.

    Usage::

        recorder = StatsRecorder()
        producer = make_producer({..., "statistics.interval.ms": 200, "stats_cb": recorder})
        ...
        recorder.latest.producer_id, recorder.latest.producer_epoch, recorder.latest.txn_state

    librdkafka calls it from whichever thread calls ``poll()``/``flush()``; readers may be any
    other thread. ``on_snapshot`` listeners run in the polling thread and must be quick.
    """

    def __init__(self, history: int = 600) -> None:
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._history: collections.deque[StatsSnapshot] = collections.deque(maxlen=history)
        self._listeners: list[Callable[[StatsSnapshot], None]] = []
        self.received_at: float | None = None  # time.monotonic() of the last document

    def __call__(self, document: str) -> None:
        with self._lock:
            previous = self._history[-1] if self._history else None
            snapshot = parse_statistics(document, previous)
            self._history.append(snapshot)
            self.received_at = time.monotonic()
            listeners = list(self._listeners)
            self._changed.notify_all()
        for listener in listeners:
            listener(snapshot)

    @property
    def latest(self) -> StatsSnapshot | None:
        with self._lock:
            return self._history[-1] if self._history else None

    def history(self) -> list[StatsSnapshot]:
        """The kept snapshots, oldest first."""
        with self._lock:
            return list(self._history)

    def on_snapshot(self, listener: Callable[[StatsSnapshot], None]) -> None:
        with self._lock:
            self._listeners.append(listener)

    def wait_for(self, condition: Callable[[StatsSnapshot], bool], timeout_s: float,
                 poll: Callable[[], Any] | None = None) -> StatsSnapshot:
        """The first new-or-latest snapshot meeting ``condition``; ``poll`` drives the client.

        Statistics only arrive while the client is polled, so pass e.g.
        ``lambda: producer.poll(0.05)`` when no other thread polls. Raises TimeoutError.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            latest = self.latest
            if latest is not None and condition(latest):
                return latest
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                state = "no snapshot yet" if latest is None else f"last one: {summarise(latest)}"
                raise TimeoutError(f"no statistics snapshot met the condition within {timeout_s:.1f} s ({state})")
            if poll is not None:
                poll()
            else:
                with self._changed:
                    self._changed.wait(min(remaining, 0.1))


def summarise(snapshot: StatsSnapshot) -> str:
    """One line for people: who, which state, which ids, which lags."""
    parts = [f"{snapshot.client_type} {snapshot.client_name}"]
    if snapshot.idempotence_state is not None:
        parts.append(f"pid={snapshot.producer_id} epoch={snapshot.producer_epoch}")
    if snapshot.txn_state is not None:
        parts.append(f"txn={snapshot.txn_state} for {snapshot.txn_state_age_s or 0:.1f}s")
    lag = snapshot.max_lag_against_lso
    if lag is not None:
        parts.append(f"lag(LSO)={lag}")
    return ", ".join(parts)


def epoch_bumps(snapshots: Iterable[StatsSnapshot]) -> int:
    """How often the producer epoch went up (same producer id) across consecutive snapshots."""
    bumps, last = 0, None
    for snapshot in snapshots:
        if snapshot.producer_epoch < 0:
            continue
        if last is not None and snapshot.producer_id == last.producer_id and snapshot.producer_epoch > last.producer_epoch:
            bumps += 1
        last = snapshot
    return bumps
