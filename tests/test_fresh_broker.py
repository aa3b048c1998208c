"""A broker the course just started serves a consumer that assign()s its partitions, at once.

A fresh broker creates ``__consumer_offsets`` on the first group request and answers
NOT_COORDINATOR while it loads it. librdkafka 2.16 does not retry that answer for the committed
offsets an ``assign()``ed consumer fetches before its first fetch (librdkafka issue #5586), so a
copier started first on a fresh broker read nothing, for ever — it was seen as 06's pipeline panel
copying 0 records. The course's readiness check therefore asks the group coordinator once itself
(:func:`eoslab.broker.readiness.groups_work`) before it calls a broker ready.

Assumptions: Java and the broker jars (the session broker needs them too). The broker here is
started for this test alone (a fresh state dir); not covered: external brokers, whose first group
request :func:`eoslab.kafka.connect.bootstrap` makes instead.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from eoslab.broker import EmbeddedBroker
from eoslab.broker.netutil import free_port_block
from eoslab.broker.readiness import groups_work
from eoslab.kafka.clients import create_topics, unique_name

pytestmark = [pytest.mark.broker]
FIRST_RECORD_WITHIN_S = 10.0


def test_a_fresh_broker_serves_an_assigned_consumer_at_once(tmp_path: Path) -> None:
    broker = EmbeddedBroker(state_dir=tmp_path / "broker", port=free_port_block())
    broker.start()
    try:
        topic = unique_name("fresh")
        create_topics([topic], bootstrap_servers=broker.bootstrap)
        producer = Producer({"bootstrap.servers": broker.bootstrap, "enable.idempotence": True})
        producer.produce(topic, b"first")
        assert producer.flush(10) == 0
        consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": unique_name("fresh-group"),
                             "enable.auto.commit": False, "auto.offset.reset": "earliest",
                             "isolation.level": "read_committed"})
        try:
            consumer.assign([TopicPartition(topic, 0)])  # no offset: the group's committed one is fetched first
            deadline, values, errors = time.monotonic() + FIRST_RECORD_WITHIN_S, [], []
            while not values and time.monotonic() < deadline:
                for message in consumer.consume(5, timeout=0.5):
                    (errors if message.error() else values).append(message.error() or message.value())
            assert values == [b"first"], (f"an assign()ed consumer read nothing within {FIRST_RECORD_WITHIN_S:.0f} s of "
                                          f"a fresh broker's start; it was told: {errors}")
        finally:
            consumer.close()
        started = time.monotonic()
        assert groups_work(broker.bootstrap, 5.0)
        assert time.monotonic() - started < 2.0, "on a warm broker the check is one offset fetch"
    finally:
        broker.stop()
