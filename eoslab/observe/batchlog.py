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

- It needs the embedded broker (:func:`eoslab.kafka.connect.controlled_broker`): a broker in docker
  compose or elsewhere keeps its files out of reach, and :func:`stored_batches` raises
  :class:`~eoslab.errors.EoslabError` saying so. Segments already deleted or compacted are gone.
- It reads headers only: no record keys or values, no CRC check.
- Kafka's own tool for this is ``kafka-dump-log.sh --files <segment>``; this reader avoids starting
  a JVM so a notebook cell stays fast.
"""

from __future__ import annotations

from pathlib import Path

from ..broker.segments import NO_PRODUCER_ID, StoredBatch, partition_batches, read_segment
from ..errors import EoslabError
from ..kafka.connect import controlled_broker

__all__ = ["NO_PRODUCER_ID", "StoredBatch", "partition_directory", "read_segment", "stored_batches"]


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


def stored_batches(topic: str, partition: int = 0) -> list[StoredBatch]:
    """Every batch of the partition, oldest first, read from the embedded broker's segment files."""
    folder = partition_directory(topic, partition)
    return partition_batches(folder)
