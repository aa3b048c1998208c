"""Read one partition from the real broker into a :class:`~eoslab.observe.partition.PartitionSnapshot`.

How the truth is obtained (all through the Python client, so it works against any broker):

1. The LSO: ``get_watermark_offsets`` of a *read_committed* consumer. librdkafka sends the
   consumer's ``isolation.level`` in its ListOffsets request (rdkafka_request.c writes
   ``rk_conf.isolation_level`` into the request), and the broker answers a read_committed query for
   the latest offset with the last stable offset. Verified live in
   ``tests/test_logview.py::test_read_committed_high_offset_is_the_lso``: with a transaction open,
   that number stops at the open transaction's first offset while the read_uncommitted one is
   the high watermark, and it agrees with ``AdminClient.list_offsets`` at READ_COMMITTED.
   (The *cached* watermark, ``cached=True``, is the high watermark at both levels: do not use it.)
2. The high watermark: ``get_watermark_offsets`` of a *read_uncommitted* consumer. The LSO is
   queried first, so LSO <= high watermark even while producers are writing.
3. The views: a read_uncommitted consumer returns every data record below the high watermark
   (committed, aborted and open); a read_committed one returns the committed ones below the LSO.
   Records past the numbers taken in steps 1–2 are ignored, so the snapshot is one moment.
4. Markers: control records are never handed to the application, so every offset below the high
   watermark that read_uncommitted did not return is a marker (a gap).

What is *inferred*, not observed (cells say ``inferred=True``):

- Whether a gap is a commit or an abort marker. The client does not show a control record's type,
  so a gap is attributed to the nearest earlier record whose transaction is still unclosed (with
  the :data:`~eoslab.observe.partition.TXN_HEADER` header, to that record's whole transaction): COMMIT if
  read_committed returned that record, ABORT if it is below the LSO and was not returned, and
  MARKER (unknown) if it lies past the LSO, where read_committed cannot tell yet. Interleaved
  transactions or non-transactional records written inside a transaction can fool this rule.
- A record's transaction: only from the header; the client does not expose producer ids.
- A record's fate: committed if read_committed returned it, aborted if below the LSO and not
  returned, pending (unknown) if at or past the LSO.

Does not cover: compacted topics (compaction also leaves gaps, which would be drawn as markers)
and partitions too large to draw (it refuses more than ``max_offsets`` offsets).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    Message,
    TopicPartition,
)

from ..errors import EoslabError
from ..kafka.clients import make_consumer, unique_name
from .partition import (
    ABORT,
    ABORTED,
    COMMIT,
    COMMITTED,
    MARKER,
    PENDING,
    READ_COMMITTED,
    READ_UNCOMMITTED,
    RECORD,
    TXN_HEADER,
    Cell,
    PartitionSnapshot,
)

READ_TIMEOUT_S = 10.0
MAX_OFFSETS = 500


@dataclass(frozen=True)
class _Returned:
    offset: int
    value: str | None
    txn: str | None


def _reader(isolation_level: str, bootstrap_servers: str | None) -> Consumer:
    return make_consumer({
        "group.id": unique_name("eoslab-logview"),  # required by the client; never joined (assign only)
        "isolation.level": isolation_level,  # the whole point: one reader per level
        "enable.auto.commit": False,  # a viewer must not move anyone's committed offsets
        "enable.partition.eof": True,  # tells us when the reader reached the end it can see
        "fetch.wait.max.ms": 10,  # answer quickly at the end of the log instead of waiting for data
    }, bootstrap_servers=bootstrap_servers)


def _end_offset(consumer: Consumer, topic: str, partition: int) -> tuple[int, int]:
    """(log start, end) as this consumer's isolation level sees it: LSO or high watermark."""
    low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=READ_TIMEOUT_S,
                                               cached=False)
    return low, high


def _decode(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode("utf-8", errors="replace")


def _txn_label(message: Message) -> str | None:
    for key, value in message.headers() or []:
        if key == TXN_HEADER:
            return _decode(value)
    return None


def _read_until(consumer: Consumer, topic: str, partition: int, start: int, end: int) -> list[_Returned]:
    """Every record the consumer returns with start <= offset < end, bounded by a deadline."""
    if end <= start:
        return []
    consumer.assign([TopicPartition(topic, partition, start if start > 0 else OFFSET_BEGINNING)])
    returned: list[_Returned] = []
    deadline = time.monotonic() + READ_TIMEOUT_S
    while time.monotonic() < deadline:
        message = consumer.poll(0.1)
        if message is None:
            continue
        if message.error():
            if message.error().code() == KafkaError._PARTITION_EOF:
                if message.offset() >= end:
                    return returned
                continue  # an end older than the one we measured: the rest is still arriving
            raise EoslabError(f"reading {topic} [{partition}] failed: {message.error().str()}; "
                              "check the broker with `eoslab broker status`")
        if message.offset() >= end:
            return returned
        returned.append(_Returned(message.offset(), _decode(message.value()), _txn_label(message)))
    raise EoslabError(f"could not read {topic} [{partition}] up to offset {end} within {READ_TIMEOUT_S:.0f} s; "
                      "check the broker with `eoslab broker status`")


def read_partition(topic: str, partition: int = 0, *, max_offsets: int = MAX_OFFSETS,
                   bootstrap_servers: str | None = None) -> PartitionSnapshot:
    """A snapshot of one partition as the broker serves it now, to both isolation levels."""
    committed_reader = _reader(READ_COMMITTED, bootstrap_servers)
    uncommitted_reader = _reader(READ_UNCOMMITTED, bootstrap_servers)
    try:
        _, lso = _end_offset(committed_reader, topic, partition)  # first: keeps LSO <= high watermark
        log_start, high_watermark = _end_offset(uncommitted_reader, topic, partition)
        if high_watermark - log_start > max_offsets:
            raise EoslabError(f"{topic} [{partition}] holds {high_watermark - log_start} offsets, more than "
                              f"the {max_offsets} the log view draws; draw a smaller topic")
        with ThreadPoolExecutor(max_workers=2) as pool:  # both reads wait on the network: overlap them
            committed_future = pool.submit(_read_until, committed_reader, topic, partition, log_start, lso)
            uncommitted_future = pool.submit(_read_until, uncommitted_reader, topic, partition,
                                             log_start, high_watermark)
            committed, uncommitted = committed_future.result(), uncommitted_future.result()
    finally:
        committed_reader.close()
        uncommitted_reader.close()
    return build_snapshot(topic, partition, log_start, lso, high_watermark, committed, uncommitted)


def build_snapshot(topic: str, partition: int, log_start: int, lso: int, high_watermark: int,
                   committed: list[_Returned], uncommitted: list[_Returned]) -> PartitionSnapshot:
    """Combine what the two readers returned into cells, inferring the markers (see module doc)."""
    committed_offsets = {item.offset for item in committed}
    by_offset = {item.offset: item for item in uncommitted}
    cells: dict[int, Cell] = {}
    for item in uncommitted:
        status = COMMITTED if item.offset in committed_offsets else ABORTED if item.offset < lso else PENDING
        cells[item.offset] = Cell(item.offset, RECORD, item.txn, item.value, status)

    unclosed: list[int] = []  # records whose transaction no marker has ended yet, in log order
    for offset in range(log_start, high_watermark):
        if offset in by_offset:
            unclosed.append(offset)
            continue
        cells[offset] = _infer_marker(offset, unclosed, cells, lso)
    ordered = tuple(cells[offset] for offset in sorted(cells))
    notes = ("marker kinds are inferred from what read_committed returned (see eoslab.observe.logreader)",) \
        if any(cell.is_marker for cell in ordered) else ()
    return PartitionSnapshot(
        cells=ordered, lso=lso, high_watermark=high_watermark,
        committed_view=tuple(cells[item.offset] for item in committed if item.offset in cells),
        uncommitted_view=tuple(cells[item.offset] for item in uncommitted),
        log_start=log_start, topic=topic, partition=partition, source="broker", notes=notes)


def _infer_marker(offset: int, unclosed: list[int], cells: dict[int, Cell], lso: int) -> Cell:
    if not unclosed:
        return Cell(offset, MARKER, inferred=True)
    labelled = [earlier for earlier in unclosed if cells[earlier].txn is not None]
    closing = cells[(labelled or unclosed)[-1]]  # prefer transactions we can name
    ended = [earlier for earlier in unclosed if cells[earlier].txn == closing.txn] \
        if closing.txn is not None else list(unclosed)
    for earlier in ended:
        unclosed.remove(earlier)
    if closing.status == COMMITTED:
        kind = COMMIT
    elif closing.status == ABORTED:
        kind = ABORT
    else:
        kind = MARKER  # past the LSO: read_committed has not decided anything there yet
    return Cell(offset, kind, closing.txn, inferred=True)
