"""The fault proxy breaks real clients talking to a real broker, and the right setting survives it.

Every test drives a librdkafka client bootstrapped on the proxy (so all its traffic crosses it) and
checks the outcome with a second client bootstrapped directly on the broker, which no fault
touches. Each fault is shown to cause the failure it teaches (a duplicate, a timeout) and, where
the course claims a setting prevents it, that it does (idempotence: exactly one copy).
"""

from __future__ import annotations

import os
import random
import socket
import struct
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import KafkaError, Producer

from eoslab.chaos import ApiKey, FaultProxy, api_name
from eoslab.chaos.framing import request_scanner, response_scanner
from eoslab.kafka.clients import make_producer
from eoslab.kafka.connect import proxy_addresses
from eoslab.errors import EoslabError
from eoslab.lessons.verifier import assert_exactly_once, read_ids, record_value

DELIVERY_TIMEOUT_S = 20.0


# ---- helpers ----------------------------------------------------------------------------------

@pytest.fixture
def fault_proxy(session_broker: Any) -> Iterator[FaultProxy]:
    """A started proxy in front of the session broker's proxied listener, stopped afterwards."""
    listen, upstream = proxy_addresses()
    if session_broker is None and "EOSLAB_PROXY_UPSTREAM" not in os.environ:
        pytest.skip("the fault proxy needs the embedded broker or EOSLAB_PROXY_UPSTREAM/EOSLAB_PROXY_ADDRESS")
    proxy = FaultProxy(listen, upstream).start()
    try:
        yield proxy
        counters = proxy.counters()
        assert counters["internal_errors"] == 0, counters["last_internal_error"]  # the proxy itself never failed
    finally:
        proxy.stop()


def proxied_producer(proxy: FaultProxy, **config: Any) -> Producer:
    settings = {
        "acks": "all",  # the broker answers only once the record is in the log: that answer is what we drop
        "linger.ms": 0,  # one record, one produce request: the fault hits exactly that request
        "retry.backoff.ms": 100,  # retry soon after the connection is cut, to keep the tests short
    }
    settings.update(config)
    return make_producer(settings, bootstrap_servers=proxy.bootstrap)


def deliver(producer: Producer, topic: str, record: int, timeout_s: float = DELIVERY_TIMEOUT_S) -> KafkaError | None:
    """Produce one record and wait for its delivery report; its error (None when it was written)."""
    outcomes: list[KafkaError | None] = []
    producer.produce(topic, value=record_value(record), on_delivery=lambda error, _msg: outcomes.append(error))
    left = producer.flush(timeout_s)
    assert left == 0 and outcomes, f"no delivery report for record {record} within {timeout_s:.0f} s"
    return outcomes[0]


def new_id() -> int:
    return uuid.uuid4().int % 10**12


def wait_for(condition: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s:.0f} s")
        time.sleep(0.05)


# ---- framing (no broker) ----------------------------------------------------------------------

def test_scanner_finds_every_frame_in_any_chunking() -> None:
    """Headers split across reads are still found, and withheld response bytes are never lost."""
    bodies = [(0, b"x" * 300), (1, b""), (18, b"yz" * 9)] * 20
    frames = [struct.pack(">ihhi", 8 + len(body), api, 7, correlation) + body
              for correlation, (api, body) in enumerate(bodies)]
    stream = b"".join(frames)
    starts = [sum(len(frame) for frame in frames[:index]) for index in range(len(frames))]
    rng = random.Random(7)
    for _ in range(50):
        cuts = sorted(rng.sample(range(1, len(stream)), 25))
        chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)])]
        requests, responses = request_scanner(), response_scanner()
        seen_requests = [fields for chunk in chunks for _, fields in requests.feed(chunk)[1]]
        forwarded, response_starts = b"", []
        for chunk in chunks:
            data, headers = responses.feed(chunk)
            response_starts += [len(forwarded) + offset for offset, _ in headers]
            forwarded += data
        assert [fields[3] for fields in seen_requests] == list(range(len(frames)))
        assert [api_name(fields[1]) for fields in seen_requests[:3]] == ["Produce", "Fetch", "ApiVersions"]
        assert response_starts == starts  # each frame located where it begins in the stream
        assert forwarded == stream  # nothing withheld is lost or repeated


def test_faults_must_be_bounded_in_time() -> None:
    proxy = FaultProxy()
    with pytest.raises(EoslabError, match="between 0 and"):
        proxy.partition(10_000)
    with pytest.raises(EoslabError, match="unknown Kafka API"):
        proxy.drop_responses("Produse")
    with pytest.raises(EoslabError, match="not running"):
        proxy.reset_connections()


def test_an_unused_drop_budget_expires() -> None:
    """No broker needed: a budget nobody uses ends by itself, so it cannot ambush a later demo."""
    listen, upstream = proxy_addresses()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with FaultProxy(f"127.0.0.1:{port}", upstream) as proxy:
        proxy.drop_responses("Produce", count=3, within_s=0.3)
        assert proxy.active_faults()["drop"]["Produce"]["responses"] == 3
        wait_for(lambda: proxy.active_faults() == {}, 5, "the drop budget did not expire")


# ---- faults against the real broker -----------------------------------------------------------

@pytest.mark.broker
@pytest.mark.timeout(60)
def test_large_fetch_responses_cross_the_proxy_intact(fault_proxy: FaultProxy, topic: str) -> None:
    """A consumer bootstrapped on the proxy reads exactly what a direct one reads (~1 MB fetch responses)."""
    producer = make_producer({"enable.idempotence": True,  # no duplicates to blur the comparison
                              "acks": "all", "linger.ms": 20})
    for record in range(3000):
        producer.produce(topic, value=record_value(record, "x" * 1000))
    assert producer.flush(DELIVERY_TIMEOUT_S) == 0

    through_proxy = read_ids(topic, "read_uncommitted", bootstrap_servers=fault_proxy.bootstrap)

    assert through_proxy == read_ids(topic, "read_uncommitted") == list(range(3000))
    assert fault_proxy.counters()["responses_forwarded"]["Fetch"] >= 1



@pytest.mark.broker
@pytest.mark.timeout(90)
@pytest.mark.parametrize(("idempotent", "copies"), [(False, 2), (True, 1)],
                         ids=["without-idempotence-duplicates", "with-idempotence-exactly-once"])
def test_dropped_produce_response(fault_proxy: FaultProxy, topic: str, idempotent: bool, copies: int) -> None:
    """The broker writes, the acknowledgement is lost, the client retries: two copies unless idempotent."""
    producer = proxied_producer(
        fault_proxy,
        **{"enable.idempotence": idempotent,  # the setting under test: producer id + sequence numbers
           "retries": 5,  # a lost acknowledgement is retried, which is what duplicates the record
           "message.timeout.ms": 30000})
    producer.list_topics(topic, timeout=10)  # connect and learn the leader before the fault
    fault_proxy.drop_responses(ApiKey.Produce, count=1)
    record = new_id()

    assert deliver(producer, topic, record) is None  # the client believes it wrote the record once

    assert fault_proxy.counters()["responses_dropped"] == {"Produce": 1}
    received = read_ids(topic, "read_uncommitted")
    assert received.count(record) == copies, f"record {record} read {received.count(record)} times, not {copies}"


@pytest.mark.broker
@pytest.mark.timeout(60)
def test_partition_times_out_an_impatient_producer_then_it_recovers(fault_proxy: FaultProxy, topic: str) -> None:
    producer = proxied_producer(
        fault_proxy,
        **{"enable.idempotence": False,  # so a timed-out in-flight record may be given up on
           "message.timeout.ms": 1500})  # impatient: gives up on a record after 1.5 s
    assert deliver(producer, topic, new_id()) is None

    fault_proxy.partition(10)
    started = time.monotonic()
    error = deliver(producer, topic, new_id(), timeout_s=8)
    assert error is not None and error.code() == KafkaError._MSG_TIMED_OUT, f"expected a timeout, got {error}"
    assert time.monotonic() - started < 8, "the record should time out while the partition lasts"

    fault_proxy.heal()
    assert deliver(producer, topic, new_id()) is None  # healed: the same producer carries on


@pytest.mark.broker
@pytest.mark.timeout(60)
def test_records_sent_during_a_partition_arrive_exactly_once_after_it_heals(fault_proxy: FaultProxy,
                                                                            topic: str) -> None:
    producer = proxied_producer(
        fault_proxy,
        **{"enable.idempotence": True,  # retries after the partition cannot duplicate
           "message.timeout.ms": 60000})  # patient: outlasts the partition
    sent = [new_id()]
    assert deliver(producer, topic, sent[0]) is None

    partition_s = 3.0
    fault_proxy.partition(partition_s)
    started = time.monotonic()
    delivered: list[tuple[float, KafkaError | None]] = []
    for _ in range(20):
        sent.append(new_id())
        producer.produce(topic, value=record_value(sent[-1]),
                         on_delivery=lambda error, _msg: delivered.append((time.monotonic(), error)))
    producer.poll(1.0)
    assert delivered == [], "nothing can be acknowledged while partitioned"

    assert producer.flush(DELIVERY_TIMEOUT_S + partition_s) == 0
    assert len(delivered) == 20 and all(error is None for _, error in delivered), delivered
    assert min(at for at, _ in delivered) - started >= partition_s - 0.2, "delivered only after the heal"
    assert fault_proxy.active_faults() == {}, "the partition healed by itself"
    assert_exactly_once(sent, read_ids(topic, "read_uncommitted"))


@pytest.mark.broker
@pytest.mark.timeout(60)
def test_delay_adds_latency_to_every_response(fault_proxy: FaultProxy, topic: str) -> None:
    producer = proxied_producer(fault_proxy, **{"enable.idempotence": False})  # nothing retried here

    def median_latency() -> float:
        samples = []
        for _ in range(3):
            started = time.monotonic()
            assert deliver(producer, topic, new_id()) is None
            samples.append(time.monotonic() - started)
        return sorted(samples)[1]

    median_latency()  # connect first, so the baseline is one round trip
    baseline = median_latency()
    with fault_proxy.delayed(0.5, max_s=30):
        delayed = median_latency()
    after = median_latency()

    assert 0.4 <= delayed - baseline < 1.5, f"baseline {baseline:.3f} s, delayed {delayed:.3f} s"
    assert after < baseline + 0.3, f"the delay ended with the block ({after:.3f} s)"
    assert fault_proxy.counters()["responses_delayed"] >= 3


@pytest.mark.broker
@pytest.mark.timeout(60)
def test_reset_connections_client_reconnects_and_carries_on(fault_proxy: FaultProxy, topic: str) -> None:
    producer = proxied_producer(fault_proxy, **{"enable.idempotence": True})  # a retry must not duplicate
    sent = [new_id(), new_id()]
    assert deliver(producer, topic, sent[0]) is None
    connections_before = fault_proxy.counters()["connections"]

    assert fault_proxy.reset_connections() >= 1
    assert deliver(producer, topic, sent[1]) is None

    counters = fault_proxy.counters()
    assert counters["connections"] > connections_before, "the producer opened a new connection"
    assert counters["connections_cut"] >= 1
    assert_exactly_once(sent, read_ids(topic, "read_uncommitted"))


@pytest.mark.broker
@pytest.mark.timeout(60)
def test_counters_count_forwarded_and_dropped_requests_by_api(fault_proxy: FaultProxy, topic: str) -> None:
    producer = proxied_producer(fault_proxy, **{"enable.idempotence": False, "retries": 5})
    for _ in range(3):
        assert deliver(producer, topic, new_id()) is None
    counters = fault_proxy.counters()
    assert counters["requests_forwarded"]["Produce"] == 3
    assert counters["responses_forwarded"]["Produce"] == 3
    assert counters["requests_forwarded"]["ApiVersions"] >= 1 and counters["requests_forwarded"]["Metadata"] >= 1
    assert counters["responses_dropped"] == {}

    fault_proxy.drop_responses("produce", count=1)
    assert deliver(producer, topic, new_id()) is None
    counters = fault_proxy.counters()
    assert counters["responses_dropped"] == {"Produce": 1}
    assert counters["requests_forwarded"]["Produce"] == 5, "the dropped request and its retry"
    assert counters["responses_forwarded"]["Produce"] == 4
    assert counters["bytes_to_broker"] > 0 and counters["bytes_to_clients"] > 0


@pytest.mark.broker
@pytest.mark.timeout(60)
def test_a_partition_heals_by_itself(fault_proxy: FaultProxy, topic: str) -> None:
    producer = proxied_producer(fault_proxy, **{"enable.idempotence": True})  # recovery must not duplicate
    assert deliver(producer, topic, new_id()) is None
    fault_proxy.partition(1.0)
    assert "partition" in fault_proxy.active_faults()
    wait_for(lambda: fault_proxy.active_faults() == {}, 5, "the partition did not heal")
    assert fault_proxy.counters()["partitions"] == 1
    assert deliver(producer, topic, new_id()) is None


@pytest.mark.broker
@pytest.mark.timeout(60)
def test_partitioned_block_holds_deliveries_until_it_ends(fault_proxy: FaultProxy, topic: str) -> None:
    producer = proxied_producer(fault_proxy, **{"enable.idempotence": True,  # the retry after the cut is deduplicated
                                                "message.timeout.ms": 60000})  # outlasts the block
    sent = [new_id(), new_id()]
    assert deliver(producer, topic, sent[0]) is None
    delivered: list[KafkaError | None] = []
    with fault_proxy.partitioned(max_s=30):
        producer.produce(topic, value=record_value(sent[1]), on_delivery=lambda error, _msg: delivered.append(error))
        producer.poll(1.0)
        assert delivered == [], "acknowledged through a partition"
    assert fault_proxy.active_faults() == {}, "the block's end healed the partition"
    assert producer.flush(DELIVERY_TIMEOUT_S) == 0 and delivered == [None]
    assert_exactly_once(sent, read_ids(topic, "read_uncommitted"))


# ---- life cycle ------------------------------------------------------------------------------

@pytest.mark.broker
@pytest.mark.timeout(30)
def test_stop_is_idempotent_and_frees_the_port(fault_proxy: FaultProxy) -> None:
    assert fault_proxy.start() is fault_proxy  # starting twice is harmless
    port = int(fault_proxy.bootstrap.rsplit(":", 1)[1])
    fault_proxy.stop()
    fault_proxy.stop()
    assert not fault_proxy.is_running
    with socket.socket() as probe:
        # SO_REUSEADDR as any server sets it: connections of earlier tests may linger in TIME_WAIT;
        # a listener still holding the port would make bind() fail even so.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))
        probe.listen()
    assert fault_proxy.counters()["open_connections"] == 0
    fault_proxy.start()  # and it can start again
    assert fault_proxy.is_running


@pytest.mark.broker
@pytest.mark.timeout(30)
def test_a_second_proxy_on_the_same_port_says_which_port_and_what_to_do(fault_proxy: FaultProxy) -> None:
    port = fault_proxy.bootstrap.rsplit(":", 1)[1]
    with pytest.raises(EoslabError, match=rf"port {port} .*in use.*stop\(\)"):
        FaultProxy(fault_proxy.bootstrap, fault_proxy.upstream_address).start()
    assert fault_proxy.is_running  # the first one is unharmed
