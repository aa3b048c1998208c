"""Transactions in the Python client: the three error classes, and ways to make each one happen.

What it guarantees:

- :func:`classify` names the class of a :class:`~confluent_kafka.KafkaError` raised by a
  transactional producer, by the client's own flags and in this order: ``fatal()`` → ``"fatal"``
  (close the producer, make a new one); ``txn_requires_abort()`` → ``"abortable"``
  (``abort_transaction()``, then start the transaction again); ``retriable()`` → ``"retriable"``
  (call the same method again); **no flag at all → ``"fatal"``**: an error the client does not
  promise to recover from is not one to carry on after.
- :class:`FaultyProducer` wraps a real producer and raises scripted errors from chosen methods
  (before the real method runs, so the real producer's state is untouched by the fault), and
  records every call; :func:`crafted_error` builds such errors with the flags a lesson needs.
- :func:`create_rejecting_topic` makes a topic whose broker refuses any record batch over
  :data:`REJECTING_MAX_BYTES` (a record with a long value): a *real* abortable error
  (``MSG_SIZE_TOO_LARGE`` … "current transaction must be aborted") on commit. The limit stays
  above the size of a commit or abort marker (~80 bytes): with a smaller one the coordinator could
  never write the abort marker, and the transaction would hang in PrepareAbort (seen live).

Assumptions: confluent-kafka 2.x (``KafkaError(code, reason, fatal=…, retriable=…,
txn_requires_abort=…)``) and a broker that accepts topic configs (any Kafka since 0.11).

Does not cover: *which* codes librdkafka flags how (that is the client's decision, and it is the
flags, not the codes, that a program should test); consumers; retry pacing (see
:mod:`eoslab.lessons.backoff`). It holds no solution to an exercise: how to react to each class in a
transfer is the learner's to write.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import NewTopic

from ..errors import EoslabError
from ..kafka.clients import TOPIC_TIMEOUT_S, _wait_for_leaders, make_admin, remember_created, unique_name

ErrorClass = Literal["retriable", "abortable", "fatal"]

#: What a program does for each class (the course's rule, in one place for tables and feedback).
WHAT_TO_DO: dict[str, str] = {
    "retriable": "call the same method again (a bounded number of times)",
    "abortable": "abort_transaction(), then begin the whole transaction again",
    "fatal": "stop using this producer: close it and make a new one (init_transactions fences the old one)",
}


def classify(error: KafkaError | KafkaException) -> ErrorClass:
    """The class of a transactional producer's error: ``"fatal"``, ``"abortable"`` or ``"retriable"``.

    Fatal wins over the other flags; an error with no flag is fatal (unknown means unsafe).
    """
    if isinstance(error, KafkaException):
        error = error.args[0]
    if not isinstance(error, KafkaError):
        raise EoslabError(f"classify() takes a KafkaError or KafkaException, not {type(error).__name__}")
    if error.fatal():
        return "fatal"
    if error.txn_requires_abort():
        return "abortable"
    if error.retriable():
        return "retriable"
    return "fatal"


def crafted_error(kind: ErrorClass | Literal["unflagged"], code: int | None = None,
                  reason: str | None = None) -> KafkaError:
    """A KafkaError carrying exactly the flags of ``kind`` (``"unflagged"``: none), for injection.

    The default codes are the ones the client really uses for each situation: a timed-out commit
    (retriable), a record the broker refused (abortable), a newer instance (fatal, ``_FENCED``).
    """
    defaults = {"retriable": (KafkaError._TIMED_OUT, "injected: commit timed out"),
                "abortable": (KafkaError.MSG_SIZE_TOO_LARGE, "injected: a record failed; transaction must be aborted"),
                "fatal": (KafkaError._FENCED, "injected: fenced by a newer instance"),
                "unflagged": (KafkaError._FAIL, "injected: an error with no flag")}
    if kind not in defaults:
        raise EoslabError(f"kind must be one of {', '.join(defaults)}, not {kind!r}")
    default_code, default_reason = defaults[kind]
    return KafkaError(default_code if code is None else code, reason or default_reason,
                      fatal=kind == "fatal", retriable=kind == "retriable",
                      txn_requires_abort=kind == "abortable")


class FaultyProducer:
    """A transactional producer that fails on cue: ``failures`` maps a method name to the errors its
    next calls raise (one per call, in order); once a list is used up, calls reach the real producer.

    Every call is recorded in :attr:`calls` (method names, in order), failed or not. An injected
    error is raised *instead of* calling the real method, so the real transaction is exactly where
    it was: a caller that retries reaches the real method; one that aborts really aborts.
    """

    def __init__(self, producer: Any, failures: Mapping[str, Iterable[KafkaError]] | None = None) -> None:
        self.producer = producer
        self.failures: dict[str, list[KafkaError]] = {name: list(errors) for name, errors in (failures or {}).items()}
        self.calls: list[str] = []

    def count(self, method: str) -> int:
        """How often ``method`` was called (failed calls included)."""
        return self.calls.count(method)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        real = getattr(self.producer, name)
        if not callable(real):
            return real

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            pending = self.failures.get(name)
            if pending:
                raise KafkaException(pending.pop(0))
            return real(*args, **kwargs)

        return call


#: The rejecting topic's ``max.message.bytes``: markers (~80 bytes) fit, a record of 300+ bytes does not.
REJECTING_MAX_BYTES = 200
#: A value this long is always refused by a rejecting topic.
TOO_LONG_FOR_REJECTING = "x" * 300


def create_rejecting_topic(prefix: str = "rejecting", *, bootstrap_servers: str | None = None) -> str:
    """A one-partition topic whose broker refuses every record batch over :data:`REJECTING_MAX_BYTES`.

    A transaction that writes a long record to it (e.g. with :data:`TOO_LONG_FOR_REJECTING` in its
    value) fails on commit with an abortable error (the record is lost, so the transaction cannot
    commit): a real ``txn_requires_abort()`` without any mock. Its abort still works: the abort
    marker is small enough for the topic.
    """
    name = unique_name(prefix)
    admin = make_admin(bootstrap_servers=bootstrap_servers)
    topic = NewTopic(name, 1, 1, config={"max.message.bytes": str(REJECTING_MAX_BYTES)})
    for future in admin.create_topics([topic], operation_timeout=TOPIC_TIMEOUT_S,
                                      request_timeout=TOPIC_TIMEOUT_S).values():
        future.result(timeout=TOPIC_TIMEOUT_S)
    remember_created([name], bootstrap_servers)
    _wait_for_leaders(admin, [name], 1)
    return name
