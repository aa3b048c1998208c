"""What the broker stored: record batch headers (producer id, epoch, sequence) read from its log files.

The Python client never shows which producer wrote a record or with which sequence number; the
broker keeps both in the header of every record batch it appends. For the course's *embedded*
broker the segment files are on this machine, so :func:`stored_batches` reads them directly and
returns one :class:`StoredBatch` per batch: offsets, record count, producer id, producer epoch,
base sequence, and whether it is transactional or a control (commit/abort) batch.

What it guarantees: the headers are read as the broker wrote them (record batch format v2, the
only one Kafka 4.x writes), in offset order, for every segment of the partition; a batch still
being appended (shorter than its declared length) is left out rather than misread.

Assumptions and limits:

- It needs the embedded broker (:func:`eoslab.connect.controlled_broker`): a broker in docker
  compose or elsewhere keeps its files out of reach, and :func:`stored_batches` raises
  :class:`~eoslab.errors.EoslabError` saying so. Segments already deleted or compacted are gone.
- It reads headers only: no record keys or values, no CRC check.
- Kafka's own tool for this is ``kafka-dump-log.sh --files <segment>``; this reader avoids starting
  a JVM so a notebook cell stays fast.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from .connect import controlled_broker
from .errors import EoslabError

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


def partition_directory(topic: str, partition: int = 0) -> Path:
    """The folder holding ``topic``'s partition in the embedded broker's data directory."""
    broker = controlled_broker()
    if broker is None:
        raise EoslabError("reading the broker's log files needs the course's embedded broker (this one is "
                          "elsewhere); use `kafka-dump-log.sh --files <segment>` on the broker's host instead")
    folder = broker.data_dir / f"{topic}-{partition}"
    if not folder.is_dir():
        raise EoslabError(f"the broker has no folder for {topic}-{partition}; create the topic and produce to it first")
    return folder


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


def stored_batches(topic: str, partition: int = 0) -> list[StoredBatch]:
    """Every batch of the partition, oldest first, read from the embedded broker's segment files."""
    folder = partition_directory(topic, partition)
    return [batch for segment in sorted(folder.glob("*.log")) for batch in read_segment(segment)]
