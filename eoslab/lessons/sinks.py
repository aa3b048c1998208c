"""Side effects outside Kafka: three SQLite sinks that book payments, from naive to idempotent.

A Kafka transaction covers Kafka topics and the consumer's offsets, nothing else. A consumer that
writes to a database and *then* commits its offset can crash in between; its replacement reads the
record again and writes it again. Each sink here books one payment per record into its own SQLite
file, and shows one answer to that replay:

- :class:`NaiveSink` inserts every record it is given: a replay books the payment twice;
- :class:`UniqueIdSink` makes the payment id the table's PRIMARY KEY and inserts with
  ``INSERT OR IGNORE``: a replay finds the id already there and changes nothing;
- :class:`OffsetStoringSink` writes the payment *and* the next offset to read in one database
  transaction; on start the consumer seeks to the stored offsets (:meth:`OffsetStoringSink.seek_on_assign`),
  so the database and the position can never disagree, whatever Kafka's committed offsets say.

Guarantees: every :meth:`apply` is one SQLite transaction (all of it is booked, or none of it, also
when the process is SIGKILLed mid-way: SQLite's journal rolls an unfinished transaction back on the
next open); the file survives the process. Assumptions: one writer per file at a time; payment ids
are unique per payment (a retried payment keeps its id); records carry :func:`payment_value` values.
Not covered: side effects that are not in this database (an e-mail, a call to a payment API), which
need the receiving system to deduplicate by the same id.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from confluent_kafka import OFFSET_BEGINNING, TopicPartition

from ..errors import EoslabError

SINK_KINDS = ("naive", "unique_id", "offsets_in_db")
BUSY_TIMEOUT_S = 10.0  # the notebook may read the file while a worker writes it


@dataclass(frozen=True)
class Payment:
    """One payment as a record carries it: ``amount`` in cents, credited to ``account``."""

    payment_id: int
    account: str
    amount: int


def payment_value(payment_id: int, account: str, amount: int) -> bytes:
    """A record value for a payment: ``{"payment_id": 7, "account": "alice", "amount": 2500}``."""
    return json.dumps({"payment_id": payment_id, "account": account, "amount": amount}).encode()


def parse_payment(value: bytes | str | None) -> Payment:
    """The :class:`Payment` in a record value written by :func:`payment_value`."""
    try:
        fields = json.loads(value)  # type: ignore[arg-type]
        return Payment(int(fields["payment_id"]), str(fields["account"]), int(fields["amount"]))
    except (TypeError, ValueError, KeyError) as error:
        raise EoslabError(f"record value {value!r:.60} is not a payment ({error}); "
                          f"produce values with eoslab.lessons.sinks.payment_value") from None


def connect(path: str | Path) -> sqlite3.Connection:
    """A connection to the SQLite file at ``path`` (created if missing).

    Python's default transaction handling: a write opens a transaction, ``commit()`` (or leaving a
    ``with connection:`` block) ends it, and an exception inside ``with connection:`` rolls it back.
    """
    return sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S)


class Message(Protocol):
    """What a sink needs of a consumed record (a confluent_kafka Message has all of it)."""

    def topic(self) -> str | None: ...
    def partition(self) -> int | None: ...
    def offset(self) -> int | None: ...
    def value(self) -> bytes | None: ...


@dataclass(frozen=True)
class RecordStub:
    """A consumed record made by hand (tests, exercises): same methods as a confluent_kafka Message."""

    value_bytes: bytes
    offset_number: int = 0
    topic_name: str = "payments"
    partition_number: int = 0

    def topic(self) -> str:
        return self.topic_name

    def partition(self) -> int:
        return self.partition_number

    def offset(self) -> int:
        return self.offset_number

    def value(self) -> bytes:
        return self.value_bytes


def payment_record(payment_id: int, account: str, amount: int, offset: int = 0, topic: str = "payments",
                   partition: int = 0) -> RecordStub:
    """A hand-made record carrying a payment, as if consumed from ``topic`` at ``offset``."""
    return RecordStub(payment_value(payment_id, account, amount), offset, topic, partition)


BeforeCommit = Callable[[], None]


class Sink:
    """Books payments into ``path``; subclasses decide what makes a replay harmless (or not)."""

    kind = ""
    #: True when the consumed position lives in this database (no Kafka offset commit needed).
    stores_offsets = False
    _schema = ""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.db = connect(self.path)
        with self.db:
            self.db.executescript(self._schema)

    def apply(self, message: Message, before_commit: BeforeCommit | None = None) -> bool:
        """Book the payment in ``message`` in one database transaction; True if a row was added.

        ``before_commit`` runs inside the transaction, after the writes and before the commit: a
        crash point for demos (a SIGKILL there leaves nothing booked).
        """
        payment = parse_payment(message.value())
        with self.db:  # one transaction: commit on success, roll back on an exception
            added = self._write(payment, message)
            if before_commit is not None:
                before_commit()
        return added

    def _write(self, payment: Payment, message: Message) -> bool:
        raise NotImplementedError

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Sink:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class NaiveSink(Sink):
    """Inserts every payment it is given: a record processed twice is booked twice."""

    kind = "naive"
    _schema = """
        CREATE TABLE IF NOT EXISTS payments (
            payment_id INTEGER NOT NULL,  -- no UNIQUE: nothing stops a second copy
            account TEXT NOT NULL, amount INTEGER NOT NULL,
            topic TEXT, partition INTEGER, "offset" INTEGER);
    """

    def _write(self, payment: Payment, message: Message) -> bool:
        self.db.execute('INSERT INTO payments (payment_id, account, amount, topic, partition, "offset") '
                        "VALUES (?, ?, ?, ?, ?, ?)", (payment.payment_id, payment.account, payment.amount,
                                                      message.topic(), message.partition(), message.offset()))
        return True


class UniqueIdSink(Sink):
    """The payment id is the PRIMARY KEY and inserts are ``INSERT OR IGNORE``: a replay adds nothing."""

    kind = "unique_id"
    _schema = """
        CREATE TABLE IF NOT EXISTS payments (
            payment_id INTEGER PRIMARY KEY,  -- the database refuses a second row for an id
            account TEXT NOT NULL, amount INTEGER NOT NULL,
            topic TEXT, partition INTEGER, "offset" INTEGER);
    """

    def _write(self, payment: Payment, message: Message) -> bool:
        cursor = self.db.execute(
            'INSERT OR IGNORE INTO payments (payment_id, account, amount, topic, partition, "offset") '
            "VALUES (?, ?, ?, ?, ?, ?)", (payment.payment_id, payment.account, payment.amount,
                                          message.topic(), message.partition(), message.offset()))
        return cursor.rowcount == 1  # 0 when the id was already booked


class OffsetStoringSink(Sink):
    """Books the payment and the next offset to read in one transaction; the consumer seeks there.

    The payments table has no unique key on purpose: the stored offset alone prevents the replay.
    """

    kind = "offsets_in_db"
    stores_offsets = True
    _schema = """
        CREATE TABLE IF NOT EXISTS payments (
            payment_id INTEGER NOT NULL,
            account TEXT NOT NULL, amount INTEGER NOT NULL,
            topic TEXT, partition INTEGER, "offset" INTEGER);
        CREATE TABLE IF NOT EXISTS consumer_positions (
            topic TEXT NOT NULL, partition INTEGER NOT NULL,
            next_offset INTEGER NOT NULL,  -- the next offset to read: last booked + 1
            PRIMARY KEY (topic, partition));
    """

    def _write(self, payment: Payment, message: Message) -> bool:
        self.db.execute('INSERT INTO payments (payment_id, account, amount, topic, partition, "offset") '
                        "VALUES (?, ?, ?, ?, ?, ?)", (payment.payment_id, payment.account, payment.amount,
                                                      message.topic(), message.partition(), message.offset()))
        self.db.execute("INSERT INTO consumer_positions (topic, partition, next_offset) VALUES (?, ?, ?) "
                        "ON CONFLICT (topic, partition) DO UPDATE SET next_offset = excluded.next_offset",
                        (message.topic(), message.partition(), int(message.offset() or 0) + 1))
        return True

    def stored_offsets(self, topic: str) -> dict[int, int]:
        """Partition -> next offset to read, as booked in this database (empty before the first record)."""
        rows = self.db.execute("SELECT partition, next_offset FROM consumer_positions WHERE topic = ?", (topic,))
        return {int(partition): int(next_offset) for partition, next_offset in rows}

    def positions_for(self, partitions: Iterable[TopicPartition]) -> list[TopicPartition]:
        """The assigned partitions, each set to its stored offset (the beginning if none is stored)."""
        positioned = []
        for partition in partitions:
            stored = self.stored_offsets(partition.topic).get(partition.partition, OFFSET_BEGINNING)
            positioned.append(TopicPartition(partition.topic, partition.partition, stored))
        return positioned

    def seek_on_assign(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        """An ``on_assign`` callback for ``consumer.subscribe``: start each partition at the stored offset."""
        consumer.assign(self.positions_for(partitions))


SINKS: dict[str, type[Sink]] = {sink.kind: sink for sink in (NaiveSink, UniqueIdSink, OffsetStoringSink)}


def open_sink(kind: str, path: str | Path) -> Sink:
    """The sink of that kind (``"naive"``, ``"unique_id"`` or ``"offsets_in_db"``) on the file at ``path``."""
    if kind not in SINKS:
        raise EoslabError(f"no sink {kind!r}; choose one of {', '.join(SINK_KINDS)}")
    return SINKS[kind](path)


# ---- reading what was booked ----------------------------------------------------------------------

def _query(path: str | Path, sql: str) -> list[tuple[Any, ...]]:
    db = connect(path)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()  # a reader never holds the file open next to a writer


def booked_ids(path: str | Path) -> list[int]:
    """Every payment id booked in the file, in booking order, duplicates included (for eoslab.lessons.verifier)."""
    return [int(row[0]) for row in _query(path, "SELECT payment_id FROM payments ORDER BY rowid")]


def duplicate_counts(path: str | Path) -> dict[int, int]:
    """Payment id -> number of rows, for ids booked more than once (``SELECT ... HAVING COUNT(*) > 1``)."""
    rows = _query(path, "SELECT payment_id, COUNT(*) FROM payments GROUP BY payment_id HAVING COUNT(*) > 1 "
                        "ORDER BY payment_id")
    return {int(payment_id): int(count) for payment_id, count in rows}


def booked_total(path: str | Path) -> int:
    """The sum of all booked amounts, in cents (what a duplicate inflates)."""
    return int(_query(path, "SELECT COALESCE(SUM(amount), 0) FROM payments")[0][0])


def summarize(path: str | Path) -> str:
    """One line: rows, distinct ids, duplicates and the total, e.g. for a demo's printout."""
    ids = booked_ids(path)
    repeated = Counter(ids)
    extra = sum(count - 1 for count in repeated.values())
    return (f"{len(ids)} rows for {len(repeated)} payments, {extra} duplicate rows, "
            f"total {booked_total(path) / 100:.2f}")
