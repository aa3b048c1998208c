"""Retrying a call that failed for a reason that may pass: waits from a policy, then give up.

What it guarantees: :func:`retry_with_backoff` calls ``call`` at most ``len(delays) + 1`` times,
sleeps the given delays between attempts, retries only errors ``is_retriable`` accepts, and
re-raises the last error when the delays run out (never swallows one). Which delays to use — the
*policy* (exponential growth, a cap, jitter) — is passed in, so the policy can be tested without
sleeping; notebook 09's exercise writes one.

What it does not cover: deciding what is retriable for you beyond Kafka's own flag
(:func:`kafka_error_is_retriable` reads ``KafkaError.retriable()``); an abortable transaction
error (``txn_requires_abort()``) is not retriable — abort, rewind, begin again; a fatal one means
a new producer. Retrying a non-idempotent side effect can repeat it: make it idempotent first.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TypeVar

from confluent_kafka import KafkaException

T = TypeVar("T")


def kafka_error_is_retriable(error: BaseException) -> bool:
    """True for a KafkaException whose KafkaError says ``retriable()`` (and is not fatal)."""
    if not isinstance(error, KafkaException) or not error.args:
        return False
    kafka_error = error.args[0]
    return bool(kafka_error.retriable()) and not bool(kafka_error.fatal())


def retry_with_backoff(call: Callable[[], T], delays: Iterable[float],
                       is_retriable: Callable[[BaseException], bool] = kafka_error_is_retriable,
                       sleep: Callable[[float], None] = time.sleep,
                       on_retry: Callable[[int, BaseException, float], None] | None = None) -> T:
    """Return ``call()``'s result, retrying retriable errors after each delay in turn.

    ``on_retry(attempt, error, delay)`` is told about each retry before its sleep (for logs).
    """
    attempt = 1
    for delay in delays:
        try:
            return call()
        except Exception as error:  # noqa: BLE001 - filtered just below, re-raised otherwise
            if not is_retriable(error):
                raise
            if on_retry is not None:
                on_retry(attempt, error, delay)
            sleep(delay)
            attempt += 1
    return call()  # the last attempt: its error, if any, goes to the caller
