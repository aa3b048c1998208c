"""What a node stored on disk: the record batch headers of a partition's segment files.

Kafka writes every record batch with a fixed header (record batch format v2, the only one Kafka
4.x writes): base offset, length, leader epoch, producer id, epoch, sequence, record count. For
nodes the course runs, the segment files are on this machine, so reading them needs no JVM and
no broker that answers: a killed node's log can still be read, which is how a cluster's
per-replica log end offsets are shown (:meth:`eoslab.broker.Cluster.replica_offsets`), and how
:mod:`eoslab.observe.batchlog` shows producer ids and sequences.

What it guarantees: headers are read as the broker wrote them, in offset order; a batch still
being appended (shorter than its declared length) is left out rather than misread. It reads
headers only: no record keys or values, no CRC check.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from ..errors import EoslabError

# baseOffset, batchLength, partitionLeaderEpoch, magic, crc, attributes, lastOffsetDelta,
# baseTimestamp, maxTimestamp, producerId, producerEpoch, baseSequence, recordsCount
_HEADER = struct.Struct(">qiibIhiqqqhii")
_LENGTH_PREFIX = 12  # baseOffset + batchLength: batchLength counts the bytes after these two fields
_TRANSACTIONAL = 0x10
_CONTROL = 0x20
NO_PRODUCER_ID = -1


@dataclass(frozen=True)
class StoredBatch:
    """One record batch as the broker stored it."""

    base_offset: int
    last_offset: int
    record_count: int
    producer_id: int       # -1 when the producer was not idempotent
    producer_epoch: int    # -1 likewise
    base_sequence: int     # sequence number of the first record in the batch, -1 without idempotence
    is_transactional: bool
    is_control: bool       # a commit or abort marker

    def describe(self) -> str:
        offsets = (f"offset {self.base_offset}" if self.base_offset == self.last_offset
                   else f"offsets {self.base_offset}-{self.last_offset}")
        kind = "control batch" if self.is_control else f"{self.record_count} record(s)"
        if self.producer_id == NO_PRODUCER_ID:
            return f"{offsets}: {kind}, no producer id (not idempotent), no sequence number"
        last_sequence = self.base_sequence + self.record_count - 1
        sequences = (f"sequence {self.base_sequence}" if self.record_count == 1
                     else f"sequences {self.base_sequence}-{last_sequence}")
        return f"{offsets}: {kind}, producer id {self.producer_id}, epoch {self.producer_epoch}, {sequences}"


def read_segment(path: Path) -> list[StoredBatch]:
    """Every complete batch header in one ``.log`` segment file."""
    data = path.read_bytes()
    batches, position = [], 0
    while position + _HEADER.size <= len(data):
        fields = _HEADER.unpack_from(data, position)
        (base_offset, batch_length, _leader_epoch, magic, _crc, attributes, last_offset_delta,
         _base_ts, _max_ts, producer_id, producer_epoch, base_sequence, record_count) = fields
        end = position + _LENGTH_PREFIX + batch_length
        if batch_length <= 0 or end > len(data):
            break  # the tail of a batch still being written (or preallocated zeros): stop here
        if magic != 2:
            raise EoslabError(f"{path.name} holds a record batch of format v{magic}; only v2 can be read here")
        batches.append(StoredBatch(
            base_offset=base_offset, last_offset=base_offset + last_offset_delta, record_count=record_count,
            producer_id=producer_id, producer_epoch=producer_epoch, base_sequence=base_sequence,
            is_transactional=bool(attributes & _TRANSACTIONAL), is_control=bool(attributes & _CONTROL)))
        position = end
    return batches


def partition_batches(folder: Path) -> list[StoredBatch]:
    """Every batch of one partition folder (``<log dir>/<topic>-<partition>``), oldest first."""
    return [batch for segment in sorted(folder.glob("*.log")) for batch in read_segment(segment)]


def log_end_offset(folder: Path) -> int | None:
    """The offset the partition's next record would get on this replica, from its files alone.

    The last complete batch's last offset + 1; with no batch, the newest segment's base offset
    (its file name). None if the replica has no folder for the partition.
    """
    segments = sorted(folder.glob("*.log"))
    if not segments:
        return None
    for segment in reversed(segments):
        batches = read_segment(segment)
        if batches:
            return batches[-1].last_offset + 1
    return int(segments[-1].stem)
