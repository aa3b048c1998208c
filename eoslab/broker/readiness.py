"""Is a broker there, and can it run transactions? Both checks have a deadline.

"Ready" is stronger than "the port is open": a client must fetch metadata **and**
``init_transactions()`` must succeed, because a single broker whose transaction log cannot be
created (replication factor 3 on one node) answers metadata requests but hangs every transactional
producer — the most reported single-broker pitfall. And the group coordinator must answer an
offset fetch (:func:`groups_work`): on a fresh broker the first one is refused while
``__consumer_offsets`` is created, and librdkafka never asks again for an ``assign()``ed consumer.
"""

from __future__ import annotations

import time
import uuid
from typing import Callable

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from ..clientlog import client_logger

OFFSETS_TOPIC = "__consumer_offsets"


def answers_metadata(bootstrap: str, timeout_s: float) -> bool:
    """True when a broker at ``bootstrap`` returns cluster metadata within ``timeout_s``."""
    admin = AdminClient({"bootstrap.servers": bootstrap, "logger": client_logger,
                         "socket.connection.setup.timeout.ms": max(1000, int(timeout_s * 1000))})
    try:
        metadata = admin.list_topics(timeout=timeout_s)
        return bool(metadata.brokers)
    except KafkaException:
        return False


def transactions_work(bootstrap: str, timeout_s: float) -> bool:
    """True when a transactional producer can register with the coordinator within ``timeout_s``."""
    producer = Producer({
        "bootstrap.servers": bootstrap,
        "transactional.id": f"eoslab-readiness-{uuid.uuid4().hex[:8]}",
        "transaction.timeout.ms": 10_000,
        "logger": client_logger,
    })
    try:
        producer.init_transactions(timeout_s)
        return True
    except KafkaException:
        return False
    finally:
        producer.flush(0)


def groups_work(bootstrap: str, timeout_s: float) -> bool:
    """True when the group coordinator answers an offset fetch within ``timeout_s``.

    A fresh broker creates ``__consumer_offsets`` on the first group request and answers
    NOT_COORDINATOR while it loads. librdkafka 2.16 does not retry that error for the committed
    offsets an ``assign()``ed consumer fetches first (librdkafka issue #5586): the partition is
    never fetched and the consumer reads nothing, for ever. Asking here first, until it answers,
    means no course consumer is the first to ask.
    """
    deadline = time.monotonic() + timeout_s
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"eoslab-readiness-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False, "logger": client_logger})
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            try:
                consumer.committed([TopicPartition(OFFSETS_TOPIC, 0)], timeout=max(0.2, min(5.0, remaining)))
                return True
            except KafkaException:
                time.sleep(0.2)  # NOT_COORDINATOR / load in progress while the offsets topic is created: ask again
    finally:
        consumer.close()


def wait_until_ready(bootstrap: str, timeout_s: float,
                     still_starting: Callable[[], bool] = lambda: True) -> bool:
    """Poll until the broker answers metadata, runs transactions and serves groups, or the deadline passes.

    ``still_starting`` is checked between attempts so a broker process that died stops the wait
    at once instead of at the deadline. Returns False on timeout or when it returns False.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not still_starting():
            return False
        remaining = deadline - time.monotonic()
        if answers_metadata(bootstrap, min(2.0, max(0.2, remaining))):
            remaining = deadline - time.monotonic()
            if (remaining > 0 and transactions_work(bootstrap, min(15.0, remaining))
                    and groups_work(bootstrap, max(1.0, min(15.0, deadline - time.monotonic())))):
                return True
        time.sleep(0.2)
    return False


#: The topic a cluster's readiness check commits a transaction to (replicated on every node).
CLUSTER_READY_TOPIC = "eoslab-cluster-ready"


def broker_count(bootstrap: str, timeout_s: float) -> int:
    """How many brokers the cluster's metadata lists (0 if nobody answers within ``timeout_s``)."""
    admin = AdminClient({"bootstrap.servers": bootstrap, "logger": client_logger,
                         "socket.connection.setup.timeout.ms": max(1000, int(timeout_s * 1000))})
    try:
        return len(admin.list_topics(timeout=timeout_s).brokers)
    except KafkaException:
        return 0


def transaction_commits(bootstrap: str, topic: str, replication_factor: int, timeout_s: float) -> bool:
    """True when a transaction commits on ``topic`` (created with ``replication_factor`` replicas
    and ``min.insync.replicas`` = 2 if need be) within ``timeout_s``: every node is a working replica."""
    from confluent_kafka.admin import NewTopic

    deadline = time.monotonic() + timeout_s
    admin = AdminClient({"bootstrap.servers": bootstrap, "logger": client_logger})
    new = NewTopic(topic, num_partitions=1, replication_factor=replication_factor,
                   config={"min.insync.replicas": str(min(2, replication_factor))})
    try:
        admin.create_topics([new], request_timeout=max(1.0, timeout_s))[topic].result(timeout=timeout_s)
    except KafkaException as error:
        if error.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
            return False
    except Exception:  # noqa: BLE001 - a timeout of the future: not ready yet
        return False
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": f"eoslab-ready-{uuid.uuid4().hex[:8]}",
                         "transaction.timeout.ms": 10_000, "acks": "all", "logger": client_logger})
    try:
        producer.init_transactions(max(0.5, deadline - time.monotonic()))
        producer.begin_transaction()
        producer.produce(topic, b"ready")
        producer.commit_transaction(max(0.5, deadline - time.monotonic()))
        return True
    except KafkaException:
        return False
    finally:
        producer.flush(0)


def wait_until_cluster_ready(bootstrap: str, nodes: int, timeout_s: float,
                             still_starting: Callable[[], bool] = lambda: True) -> bool:
    """Poll until all ``nodes`` brokers are in the metadata, a transaction commits on a topic
    replicated on min(3, nodes) of them and the group coordinator answers (:func:`groups_work`);
    False on timeout or once ``still_starting`` says no."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not still_starting():
            return False
        remaining = deadline - time.monotonic()
        if broker_count(bootstrap, min(2.0, max(0.2, remaining))) >= nodes:
            remaining = deadline - time.monotonic()
            if (remaining > 0 and transaction_commits(bootstrap, CLUSTER_READY_TOPIC, min(3, nodes), min(20.0, remaining))
                    and groups_work(bootstrap, max(1.0, min(15.0, deadline - time.monotonic())))):
                return True
        time.sleep(0.2)
    return False
