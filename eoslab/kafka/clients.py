"""Kafka clients for the course: the broker address filled in, logs kept off stderr.

Every notebook, worker and test builds its clients here, so each one finds the broker the same
way (:func:`eoslab.bootstrap`) and none writes librdkafka's log to stderr (see
:mod:`eoslab.clientlog`). The configuration a lesson is about is always passed explicitly: these
helpers add only the address and the logger, never a delivery setting.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from ..clientlog import client_logger
from .connect import bootstrap

TOPIC_TIMEOUT_S = 15.0

#: Topics this process created (``create_topics``, lesson helpers) and has not deleted, with the
#: address they were created at: a grading run that skips a notebook's clean-up cell with its demos
#: still leaves nothing behind (:func:`delete_created_topics`, eoslab.grading.demos).
_CREATED: dict[str, str | None] = {}


def _with_defaults(config: dict[str, Any] | None, bootstrap_servers: str | None) -> dict[str, Any]:
    merged = {"bootstrap.servers": bootstrap_servers or bootstrap(), "logger": client_logger}
    merged.update(config or {})
    return merged


def make_producer(config: dict[str, Any] | None = None, *, bootstrap_servers: str | None = None) -> Producer:
    return Producer(_with_defaults(config, bootstrap_servers))


def make_consumer(config: dict[str, Any], *, bootstrap_servers: str | None = None) -> Consumer:
    return Consumer(_with_defaults(config, bootstrap_servers))


def make_admin(*, bootstrap_servers: str | None = None) -> AdminClient:
    return AdminClient(_with_defaults(None, bootstrap_servers))


def unique_name(prefix: str) -> str:
    """A topic, group or transactional id no earlier run used: ``<prefix>-<8 hex digits>``."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def create_topics(names: Iterable[str], partitions: int = 1, *, bootstrap_servers: str | None = None,
                  replication_factor: int = 1, config: dict[str, str] | None = None) -> list[str]:
    """Create topics (replication factor 1 unless told, e.g. 3 on the cluster, with topic ``config``
    such as ``{"min.insync.replicas": "2"}``) and wait until their leaders are known."""
    names = list(names)
    admin = make_admin(bootstrap_servers=bootstrap_servers)
    futures = admin.create_topics([NewTopic(name, partitions, replication_factor, config=dict(config or {}))
                                   for name in names],
                                  operation_timeout=TOPIC_TIMEOUT_S, request_timeout=TOPIC_TIMEOUT_S)
    for name, future in futures.items():
        try:
            future.result(timeout=TOPIC_TIMEOUT_S)
        except KafkaException as error:
            if error.args[0].name() != "TOPIC_ALREADY_EXISTS":
                raise
        else:
            remember_created([name], bootstrap_servers)  # one that already existed is not this process's
    _wait_for_leaders(admin, names, partitions)
    return names


def remember_created(names: Iterable[str], bootstrap_servers: str | None = None) -> None:
    """Note topics this process created, for :func:`delete_created_topics`."""
    _CREATED.update(dict.fromkeys(names, bootstrap_servers))


def delete_created_topics() -> list[str]:
    """Delete every topic this process created and has not deleted yet; return their names."""
    gone = list(_CREATED)
    for address in set(_CREATED.values()):
        delete_topics([name for name, where in list(_CREATED.items()) if where == address], bootstrap_servers=address)
    return gone


def _wait_for_leaders(admin: AdminClient, names: list[str], partitions: int) -> None:
    deadline = time.monotonic() + TOPIC_TIMEOUT_S
    while time.monotonic() < deadline:
        metadata = admin.list_topics(timeout=TOPIC_TIMEOUT_S)
        ready = [name for name in names
                 if name in metadata.topics and len(metadata.topics[name].partitions) == partitions
                 and all(p.leader >= 0 for p in metadata.topics[name].partitions.values())]
        if len(ready) == len(names):
            return
        time.sleep(0.1)
    raise TimeoutError(f"topics {names} had no leader after {TOPIC_TIMEOUT_S:.0f} s")


def delete_topics(names: Iterable[str], *, bootstrap_servers: str | None = None) -> None:
    names = list(names)
    if not names:
        return
    for name in names:
        _CREATED.pop(name, None)
    admin = make_admin(bootstrap_servers=bootstrap_servers)
    for future in admin.delete_topics(names, operation_timeout=TOPIC_TIMEOUT_S).values():
        try:
            future.result(timeout=TOPIC_TIMEOUT_S)
        except KafkaException:
            pass  # already gone: cleaning up is best effort


@contextmanager
def temporary_topics(*prefixes: str, partitions: int = 1) -> Iterator[list[str]]:
    """Create one fresh topic per prefix for the duration of a ``with`` block, then delete them."""
    names = create_topics([unique_name(prefix) for prefix in prefixes], partitions)
    try:
        yield names
    finally:
        delete_topics(names)
