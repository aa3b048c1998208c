"""The course's reference verifier: what went in against what came out, by a unique id per record.

The invariant (the same one Apache Kafka's own exactly-once system test checks after copying
records while brokers and copiers are killed): **every id that was sent is received exactly once,
and no id is received that was not sent.** :func:`verify` checks it in layers, like that test:

1. no duplicates — each received id appears once;
2. input set == output set — nothing lost, nothing unknown;
3. order — ids arrive in the order they were sent, within each ordering group (a partition, or a
   key; by default the whole stream, right for a single-partition topic).

Each layer reports counts (actual against expected) and examples, so a failed check says what went
wrong, not only that something did.

Assumptions: ids in ``sent`` are unique (:func:`verify` raises otherwise — a verifier cannot tell a
duplicate delivery from a duplicate input) and comparable by equality; ``received`` lists ids in
the order they were read. Records carry their id in the value as ``id:<n>`` optionally followed by
a space and a payload (:func:`record_value`, :func:`record_id`).

Not covered: *when* records became visible (read_committed against read_uncommitted is the caller's
choice of reader, see :func:`read_ids`), and side effects outside Kafka.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from ..errors import EoslabError
from ..kafka.clients import make_consumer, unique_name

RecordId = Hashable
ID_PREFIX = "id:"
EXAMPLES_SHOWN = 3
READ_TIMEOUT_S = 20.0
#: How long a read_committed read waits for the markers of a transaction that has just committed.
MARKER_SETTLE_S = 2.0
MARKER_POLL_S = 0.05


# ---- record format ---------------------------------------------------------------------------

def record_value(record_id: RecordId, payload: str = "") -> bytes:
    """The value of a record carrying ``record_id``: ``b"id:17"`` or ``b"id:17 <payload>"``."""
    text = f"{ID_PREFIX}{record_id}"
    return (f"{text} {payload}" if payload else text).encode()


def record_id(value: bytes | str | None) -> RecordId:
    """The id in a record value written by :func:`record_value` (an int when it is all digits)."""
    if value is None:
        raise EoslabError("a record has no value, so it carries no id; produce values with eoslab.lessons.verifier.record_value")
    text = value.decode(errors="replace") if isinstance(value, bytes) else value
    if not text.startswith(ID_PREFIX):
        raise EoslabError(f"record value {text[:40]!r} does not start with {ID_PREFIX!r}; "
                          f"produce values with eoslab.lessons.verifier.record_value(n)")
    token = text[len(ID_PREFIX):].split(" ", 1)[0]
    return int(token) if token.isdigit() else token


# ---- the report ------------------------------------------------------------------------------

@dataclass(frozen=True)
class DeliveryReport:
    """What :func:`verify` found. Lists keep the order in which ids were sent or first received."""

    sent: int                      # how many ids went in
    received: int                  # how many records came out, duplicates included
    lost: list[RecordId]           # sent, never received (in sending order)
    duplicated: dict[RecordId, int]  # received more than once: id -> times received
    out_of_order: list[RecordId]   # first received after an id that was sent later (same group)
    unexpected: list[RecordId] = field(default_factory=list)  # received but never sent

    @property
    def exactly_once(self) -> bool:
        """Every sent id received exactly once and nothing else received (order not required)."""
        return not self.lost and not self.duplicated and not self.unexpected

    @property
    def extra_copies(self) -> int:
        """Records received beyond the first copy of each id (``received`` minus distinct ids)."""
        return sum(count - 1 for count in self.duplicated.values())

    def problems(self) -> list[str]:
        """One sentence per broken layer, with actual against expected counts; empty when all hold."""
        found = []
        if self.duplicated:
            found.append(f"duplicates: {len(self.duplicated)} ids received more than once "
                         f"({self.extra_copies} extra records; expected 0), e.g. {_show_counts(self.duplicated)}")
        if self.lost:
            found.append(f"lost: {len(self.lost)} of {self.sent} sent ids never received (expected 0), "
                         f"e.g. {_show(self.lost)}")
        if self.unexpected:
            found.append(f"unexpected: {len(self.unexpected)} received ids were never sent (expected 0), "
                         f"e.g. {_show(self.unexpected)}")
        if self.out_of_order:
            found.append(f"order: {len(self.out_of_order)} ids arrived after an id sent later (expected 0), "
                         f"e.g. {_show(self.out_of_order)}")
        return found

    def summary(self) -> str:
        """One line, e.g. ``1000 sent, 1001 received: 0 lost, 1 duplicated (id 17 ×2), 0 out of order``."""
        lost = f"{len(self.lost)} lost" + (f" (id {_show(self.lost)})" if self.lost else "")
        duplicated = f"{len(self.duplicated)} duplicated" + (
            f" (id {_show_counts(self.duplicated)})" if self.duplicated else "")
        order = f"{len(self.out_of_order)} out of order" + (
            f" (id {_show(self.out_of_order)})" if self.out_of_order else "")
        line = f"{self.sent} sent, {self.received} received: {lost}, {duplicated}, {order}"
        if self.unexpected:
            line += f", {len(self.unexpected)} never sent (id {_show(self.unexpected)})"
        return line

    def __str__(self) -> str:
        return self.summary()


def _show(ids: Sequence[RecordId]) -> str:
    shown = ", ".join(str(i) for i in ids[:EXAMPLES_SHOWN])
    return shown + (", …" if len(ids) > EXAMPLES_SHOWN else "")


def _show_counts(counts: dict[RecordId, int]) -> str:
    items = list(counts.items())
    shown = ", ".join(f"{i} ×{n}" for i, n in items[:EXAMPLES_SHOWN])
    return shown + (", …" if len(items) > EXAMPLES_SHOWN else "")


# ---- the checks ------------------------------------------------------------------------------

def verify(sent: Iterable[RecordId], received: Iterable[RecordId], *,
           order_group: Callable[[RecordId], Hashable] | None = None) -> DeliveryReport:
    """Compare sent ids with received ids (in the order read) and report every difference.

    ``order_group`` maps an id to the group within which order is promised (its partition or key);
    None means one group, right for a single partition. Ids received but never sent take no part in
    the order check.
    """
    sent_list = list(sent)
    received_list = list(received)
    sent_counts = Counter(sent_list)
    repeated_inputs = [i for i, n in sent_counts.items() if n > 1]
    if repeated_inputs:
        raise EoslabError(f"the sent ids must be unique, but {len(repeated_inputs)} repeat (e.g. "
                          f"{_show(repeated_inputs)}); give every record its own id")
    received_counts = Counter(received_list)

    # Layer 1: no duplicates.
    duplicated = {i: n for i, n in received_counts.items() if n > 1}
    # Layer 2: input set == output set.
    lost = [i for i in sent_list if i not in received_counts]
    unexpected = [i for i in received_counts if i not in sent_counts]  # Counter keeps first-seen order
    # Layer 3: order, on the first copy of each sent id, within its group.
    out_of_order = _out_of_order(sent_list, received_list, sent_counts, order_group)
    return DeliveryReport(sent=len(sent_list), received=len(received_list), lost=lost, duplicated=duplicated,
                          out_of_order=out_of_order, unexpected=unexpected)


def _out_of_order(sent: list[RecordId], received: list[RecordId], sent_counts: Counter[RecordId],
                  order_group: Callable[[RecordId], Hashable] | None) -> list[RecordId]:
    position = {record: index for index, record in enumerate(sent)}
    latest_in_group: dict[Hashable, int] = {}
    first_copies_seen: set[RecordId] = set()
    late = []
    for record in received:
        if record not in sent_counts or record in first_copies_seen:
            continue  # unknown ids have no place in the order; a redelivered copy is a duplicate, not reordering
        first_copies_seen.add(record)
        group = order_group(record) if order_group else None
        if position[record] < latest_in_group.get(group, -1):
            late.append(record)
        else:
            latest_in_group[group] = position[record]
    return late


def assert_exactly_once(sent: Iterable[RecordId], received: Iterable[RecordId], *, check_order: bool = True,
                        order_group: Callable[[RecordId], Hashable] | None = None) -> DeliveryReport:
    """:func:`verify`, then raise AssertionError listing every broken layer (order optional)."""
    report = verify(sent, received, order_group=order_group)
    problems = [p for p in report.problems() if check_order or not p.startswith("order:")]
    if problems:
        raise AssertionError(f"{report.summary()}\n  " + "\n  ".join(problems))
    return report


# ---- reading a topic -------------------------------------------------------------------------

def read_ids(topic: str, isolation_level: str = "read_committed", timeout_s: float = READ_TIMEOUT_S, *,
             bootstrap_servers: str | None = None) -> list[RecordId]:
    """Every record id in ``topic`` (all partitions, offset order within each) up to its end offsets.

    The end is taken once at the start, as the reader sees it: the high watermark for
    read_uncommitted, the last stable offset for read_committed (records of a transaction still
    open are beyond it). Raises TimeoutError with the offsets reached if the end is not reached
    within ``timeout_s``.
    """
    return [record for _, record in read_records(topic, isolation_level, timeout_s,
                                                 bootstrap_servers=bootstrap_servers)]


def read_records(topic: str, isolation_level: str = "read_committed", timeout_s: float = READ_TIMEOUT_S, *,
                 bootstrap_servers: str | None = None) -> list[tuple[int, RecordId]]:
    """Like :func:`read_ids`, as ``(partition, id)`` pairs, for an order check per partition."""
    return [(partition, record_id(value)) for partition, _, value in
            read_messages(topic, isolation_level, timeout_s, bootstrap_servers=bootstrap_servers)]


def read_messages(topic: str, isolation_level: str = "read_committed", timeout_s: float = READ_TIMEOUT_S, *,
                  bootstrap_servers: str | None = None) -> list[tuple[int, bytes | None, bytes | None]]:
    """Like :func:`read_ids`, as ``(partition, key, value)``, for a check of what each record holds."""
    if isolation_level not in ("read_committed", "read_uncommitted"):
        raise EoslabError(f"isolation_level must be 'read_committed' or 'read_uncommitted', not {isolation_level!r}")
    deadline = time.monotonic() + timeout_s
    consumer = make_consumer({
        "group.id": unique_name("eoslab-verify"),  # a throwaway group: it never commits
        "enable.auto.commit": False,  # reading to verify must not move anyone's offsets
        "isolation.level": isolation_level,  # the point of the read: what this kind of reader sees
        "enable.partition.eof": True,  # tells us when a partition has been read to its end
    }, bootstrap_servers=bootstrap_servers)
    try:
        metadata = consumer.list_topics(topic, timeout=max(0.5, deadline - time.monotonic()))
        topic_metadata = metadata.topics.get(topic)
        if topic_metadata is None or topic_metadata.error is not None or not topic_metadata.partitions:
            raise EoslabError(f"topic {topic!r} does not exist (or has no partitions); create it first")
        ends = _end_offsets(consumer, topic, topic_metadata.partitions, deadline)
        if isolation_level == "read_committed":
            ends = _after_pending_markers(consumer, topic, ends, deadline, bootstrap_servers)
        positions = {partition: 0 for partition in ends}
        pending = {partition for partition, end in ends.items() if end > 0}
        consumer.assign([TopicPartition(topic, partition, OFFSET_BEGINNING) for partition in pending])
        found: list[tuple[int, bytes | None, bytes | None]] = []
        while pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                reached = ", ".join(f"partition {p}: {positions[p]} of {ends[p]}" for p in sorted(pending))
                raise TimeoutError(f"reading {topic} ({isolation_level}) did not reach the end offsets within "
                                   f"{timeout_s:.0f} s ({reached})")
            message = consumer.poll(min(0.5, remaining))
            if message is None:
                continue
            partition = message.partition()
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    positions[partition] = max(positions[partition], message.offset())
                    if message.offset() >= ends[partition]:
                        pending.discard(partition)
                    continue
                raise EoslabError(f"reading {topic} failed: {error.str()}")
            found.append((partition, message.key(), message.value()))
            positions[partition] = message.offset() + 1
            if positions[partition] >= ends[partition]:
                pending.discard(partition)
        return found
    finally:
        consumer.close()


def _end_offsets(consumer: Consumer, topic: str, partitions: Iterable[int], deadline: float) -> dict[int, int]:
    """Each partition's end as ``consumer`` sees it: its watermark query uses its isolation level
    (the high watermark for read_uncommitted, the last stable offset for read_committed)."""
    ends: dict[int, int] = {}
    for partition in partitions:
        _, end = consumer.get_watermark_offsets(TopicPartition(topic, partition),
                                                timeout=max(0.5, deadline - time.monotonic()))
        ends[partition] = end
    return ends


def _after_pending_markers(consumer: Consumer, topic: str, stable_ends: dict[int, int], deadline: float,
                           bootstrap_servers: str | None) -> dict[int, int]:
    """The last stable offsets once the markers of transactions that just committed are written.

    commit_transaction() returns once the coordinator has logged its decision; the coordinator
    writes the commit markers to the partitions moments later, and until then the LSO stays at the
    transaction's first record. A reader that started in that gap would miss records that are
    committed (seen in CI: a transfer that returned True read as empty). So where the LSO is below
    the high watermark, ask again for up to MARKER_SETTLE_S: a committed transaction's markers
    arrive in that time, a transaction really still open keeps the LSO where it is (and costs the wait).
    """
    uncommitted = make_consumer({"group.id": unique_name("eoslab-verify"), "enable.auto.commit": False,
                                 "isolation.level": "read_uncommitted"}, bootstrap_servers=bootstrap_servers)
    try:
        high_watermarks = _end_offsets(uncommitted, topic, stable_ends, deadline)
    finally:
        uncommitted.close()
    settle_until = min(deadline, time.monotonic() + MARKER_SETTLE_S)
    ends = dict(stable_ends)
    while any(ends[p] < high_watermarks[p] for p in ends) and time.monotonic() < settle_until:
        time.sleep(MARKER_POLL_S)
        lagging = [p for p in ends if ends[p] < high_watermarks[p]]
        ends.update(_end_offsets(consumer, topic, lagging, deadline))
    return ends

