"""Rewind a consumer to its group's last committed offsets: the second half of "abort and rewind".

After ``abort_transaction()`` the records of the aborted transaction are gone from the output, but
the consumer's *position* is still past the input records that produced them. Unless it is moved
back, the next transaction starts after them and they are never copied. :func:`rewind_to_committed`
seeks every assigned partition to the offset last committed for the group (for an exactly-once
pipeline: committed inside the last committed transaction), so those records are read again.

Assumptions: the consumer has an assignment (``assign()``, or ``subscribe()`` after the group gave
it partitions) and ``enable.auto.commit=false`` (otherwise "committed" is whatever the timer stored).
A partition with no committed offset yet goes back to its first offset, as
``auto.offset.reset=earliest`` would place a new group.

A partition whose committed offset comes back with an error (e.g. the group coordinator still
loading after a broker restart) is asked again, a few times one second apart; if it still fails,
:class:`~eoslab.errors.EoslabError` says so. It is never sent back to the beginning: that would
copy every record again.

Not covered: deciding *when* to rewind (after an abortable error and its abort; that is the lesson's
exercise), and partitions the group lost in a rebalance meanwhile (they are not assigned any more,
so there is nothing to rewind: their new owner starts from the committed offsets anyway).
"""

from __future__ import annotations

import time
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, TopicPartition

from ..errors import EoslabError

COMMITTED_TIMEOUT_S = 10.0
COMMITTED_ATTEMPTS = 3


def rewind_to_committed(consumer: Any, timeout_s: float = COMMITTED_TIMEOUT_S) -> list[TopicPartition]:
    """Seek each assigned partition to the group's committed offset; return where each one went."""
    assignment = consumer.assignment()
    if not assignment:
        raise EoslabError("the consumer has no partitions assigned, so there is nothing to rewind; "
                          "assign() or subscribe() and consume first")
    for attempt in range(COMMITTED_ATTEMPTS):
        committed = consumer.committed(assignment, timeout=timeout_s)
        failed = [partition for partition in committed if partition.error is not None]
        if not failed:
            break
        if attempt == COMMITTED_ATTEMPTS - 1:
            raise EoslabError(f"the committed offset of {failed[0].topic} [{failed[0].partition}] could not be "
                              f"read ({failed[0].error.str()}); rewind again later, or start a new instance")
        time.sleep(1.0)
    targets = []
    for partition in committed:
        # A negative offset means "nothing committed yet": start again from the beginning.
        offset = partition.offset if partition.offset >= 0 else OFFSET_BEGINNING
        target = TopicPartition(partition.topic, partition.partition, offset)
        consumer.seek(target)
        targets.append(target)
    return targets
