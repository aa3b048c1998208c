"""Is a broker there, and can it run transactions? Both checks have a deadline.

"Ready" is stronger than "the port is open": a client must fetch metadata **and**
``init_transactions()`` must succeed, because a single broker whose transaction log cannot be
created (replication factor 3 on one node) answers metadata requests but hangs every transactional
producer — the most reported single-broker pitfall.
"""

from __future__ import annotations

import time
import uuid
from typing import Callable

from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient

from .clientlog import client_logger


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


def wait_until_ready(bootstrap: str, timeout_s: float,
                     still_starting: Callable[[], bool] = lambda: True) -> bool:
    """Poll until the broker answers metadata and runs transactions, or the deadline passes.

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
            if remaining > 0 and transactions_work(bootstrap, min(15.0, remaining)):
                return True
        time.sleep(0.2)
    return False
