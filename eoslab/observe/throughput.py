"""What each delivery guarantee costs, measured: producer throughput, latency, pipeline throughput.

Used by ``bench/delivery_modes.py``, ``bench/pipeline.py`` and notebook 09 (with a small N).

What it measures:

- :func:`measure_produce`: the wall time for one producer to send N records of one size in one
  delivery mode, from the first ``produce()`` until every record is acknowledged (``flush``) or
  its last transaction committed. Producer creation and ``init_transactions`` are outside the
  clock. A failed delivery fails the run (a benchmark that loses records measures nothing).
- :func:`measure_latency`: for a light, steady load (not the saturating one), the time from
  ``produce()`` until a read_committed consumer in the same process receives the record. For
  transactional modes the commit interval dominates: a record becomes visible only at commit.
- :func:`measure_pipeline`: consume-transform-produce throughput, at-least-once (flush then
  commit the consumer's offsets every interval) against exactly-once (offsets sent inside the
  transaction every interval). Minimal loops: errors end the run, there is no retry logic here
  (the course's pipeline in notebook 06 has it).

Assumptions, stated because they decide the numbers: one broker on loopback, the Python client
(each record costs a Python call, which narrows the gaps between modes), one partition per topic
unless told otherwise, and the batching settings in :data:`BATCHING`. Several runs are taken in
rounds (every mode once per round), so each mode's ratio to the at-least-once in-order baseline
is computed within one round, under the same background load. Aggregation, tables, JSON and
charts live in :mod:`eoslab.observe.benchreport`.
"""

from __future__ import annotations

import os
import statistics
import struct
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import TopicPartition

from ..broker.netutil import free_port_block
from ..errors import EoslabError
from ..kafka.clients import (
    create_topics,
    delete_topics,
    make_consumer,
    make_producer,
    unique_name,
)
from ..kafka.connect import configured_bootstrap

# librdkafka's own defaults, written out so the report states them and nothing drifts silently.
BATCHING: dict[str, Any] = {
    "linger.ms": 5,               # wait up to 5 ms to fill a batch
    "batch.size": 1_000_000,      # bytes per partition batch (upper bound)
    "batch.num.messages": 10_000,  # records per batch (upper bound)
    "compression.type": "none",   # measure the protocol, not a codec
    "queue.buffering.max.messages": 200_000,  # room for the whole burst in the client's queue
}
RUN_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class DeliveryMode:
    """A producer configuration with a name; ``commit_interval_ms`` makes it transactional."""

    name: str
    label: str
    config: dict[str, Any]
    commit_interval_ms: int | None = None

    @property
    def transactional(self) -> bool:
        return self.commit_interval_ms is not None


def _transactional(interval_ms: int) -> DeliveryMode:
    return DeliveryMode(
        f"transactional-{interval_ms}ms", f"transactions every {interval_ms} ms",
        {"enable.idempotence": True,  # implied by transactional.id; written for the reader
         "acks": "all"},              # implied as well
        commit_interval_ms=interval_ms)


BASELINE = "at-least-once-in-order"
DELIVERY_MODES: tuple[DeliveryMode, ...] = (
    DeliveryMode("at-most-once", "acks=1, 5 in flight, no idempotence",
                 {"acks": 1, "enable.idempotence": False, "max.in.flight.requests.per.connection": 5,
                  "retries": 0}),  # no resend: a lost request is a lost record
    DeliveryMode(BASELINE, "acks=all, 1 in flight (in order)",
                 {"acks": "all", "enable.idempotence": False, "max.in.flight.requests.per.connection": 1}),
    DeliveryMode("at-least-once", "acks=all, 5 in flight",
                 {"acks": "all", "enable.idempotence": False, "max.in.flight.requests.per.connection": 5}),
    DeliveryMode("idempotent", "enable.idempotence (acks=all, 5 in flight)",
                 {"enable.idempotence": True, "acks": "all", "max.in.flight.requests.per.connection": 5}),
    _transactional(10),
    _transactional(100),
    _transactional(1000),
)


def mode_named(name: str) -> DeliveryMode:
    for mode in DELIVERY_MODES:
        if mode.name == name:
            return mode
    raise EoslabError(f"no delivery mode {name!r}; choose one of {', '.join(m.name for m in DELIVERY_MODES)}")


@dataclass(frozen=True)
class ProduceRun:
    mode: str
    record_size: int
    records: int
    seconds: float

    @property
    def records_per_s(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else float("inf")

    @property
    def megabytes_per_s(self) -> float:
        return self.records_per_s * self.record_size / 1e6


@dataclass(frozen=True)
class LatencyRun:
    mode: str
    records: int
    rate_per_s: int
    latencies_ms: list[float] = field(repr=False)

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


# ---- broker for the benchmark ---------------------------------------------------------------------

@contextmanager
def benchmark_broker(quiet: bool = True) -> Iterator[str]:
    """The broker named by KAFKA_BOOTSTRAP_SERVERS, else a private one on free ports, stopped after."""
    configured = configured_bootstrap()
    if configured:
        yield configured
        return
    from ..broker import EmbeddedBroker  # only needed when we start our own

    with tempfile.TemporaryDirectory(prefix="eoslab-bench-") as state_dir:
        broker = EmbeddedBroker(state_dir=state_dir, port=free_port_block())
        broker.start(quiet=quiet)
        os.environ["KAFKA_BOOTSTRAP_SERVERS"] = broker.bootstrap
        try:
            yield broker.bootstrap
        finally:
            os.environ.pop("KAFKA_BOOTSTRAP_SERVERS", None)
            broker.stop()


# ---- producing --------------------------------------------------------------------------------------

class _DeliveryCounter:
    def __init__(self) -> None:
        self.acknowledged = 0
        self.first_error: str | None = None

    def __call__(self, error: Any, message: Any) -> None:
        if error is None:
            self.acknowledged += 1
        elif self.first_error is None:
            self.first_error = str(error)


def _produce_one(producer: Any, topic: str, payload: bytes, on_delivery: Callable[..., None]) -> None:
    # A full client queue is back-pressure, not an error: serve callbacks and try again.
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while True:
        try:
            producer.produce(topic, payload, on_delivery=on_delivery)
            return
        except BufferError:
            if time.monotonic() > deadline:
                raise EoslabError("the producer queue stayed full for 2 minutes; is the broker up?") from None
            producer.poll(0.005)


def _warm_up(producer: Any, mode: DeliveryMode, topic: str, payload: bytes) -> None:
    """One acknowledged record before the clock starts: connection, metadata and producer id are set up.

    Without it an idempotent producer's first records wait for its producer id, and a short run
    measures that round trip rather than the mode.
    """
    if mode.transactional:
        producer.begin_transaction()
    producer.produce(topic, payload)
    if mode.transactional:
        producer.commit_transaction(30)
    elif producer.flush(30):
        raise EoslabError(f"the warm-up record of the {mode.name} run was not delivered in 30 s; check the broker")


def measure_produce(mode: DeliveryMode, topic: str, records: int, record_size: int) -> ProduceRun:
    """Send ``records`` records of ``record_size`` bytes in ``mode``; see the module docstring."""
    config = {**BATCHING, **mode.config}
    if mode.transactional:
        config["transactional.id"] = unique_name(f"bench-{mode.name}")
    producer = make_producer(config)
    if mode.transactional:
        producer.init_transactions(30)
    payload = os.urandom(record_size)
    _warm_up(producer, mode, topic, payload)
    counter = _DeliveryCounter()
    interval_s = (mode.commit_interval_ms or 0) / 1000
    started = time.perf_counter()
    if mode.transactional:
        producer.begin_transaction()
        transaction_started = started
        for _ in range(records):
            _produce_one(producer, topic, payload, counter)
            now = time.perf_counter()
            if now - transaction_started >= interval_s:
                producer.commit_transaction(30)  # flushes, then writes the commit markers
                producer.begin_transaction()
                transaction_started = time.perf_counter()
        producer.commit_transaction(30)
    else:
        for _ in range(records):
            _produce_one(producer, topic, payload, counter)
        remaining = producer.flush(RUN_TIMEOUT_S)
        if remaining:
            raise EoslabError(f"{remaining} records of the {mode.name} run were not delivered within "
                              f"{RUN_TIMEOUT_S:.0f} s; check the broker (`eoslab broker status`)")
    seconds = time.perf_counter() - started
    producer.poll(0)
    if counter.first_error or counter.acknowledged != records:
        raise EoslabError(f"the {mode.name} run delivered {counter.acknowledged} of {records} records "
                          f"({counter.first_error or 'no error reported'}); rerun on a healthy broker")
    return ProduceRun(mode.name, record_size, records, seconds)


def produce_rounds(modes: list[DeliveryMode], records: int, record_sizes: list[int], runs: int,
                   partitions: int = 1, progress: Callable[[str], None] | None = None,
                   replication_factor: int = 1, topic_config: dict[str, str] | None = None) -> list[ProduceRun]:
    """Every mode × size once per round, ``runs`` rounds; one fresh topic per size and round
    (``replication_factor`` replicas, e.g. 3 on the cluster, and ``topic_config``)."""
    results: list[ProduceRun] = []
    for round_index in range(runs):
        for size in record_sizes:
            topic = create_topics([unique_name(f"bench-{size}b")], partitions, replication_factor=replication_factor,
                                  config=topic_config)[0]
            try:
                for mode in modes:
                    run = measure_produce(mode, topic, records, size)
                    results.append(run)
                    if progress:
                        progress(f"round {round_index + 1}/{runs} {size:>5} B {mode.name:<24} "
                                 f"{run.records_per_s:>10,.0f} rec/s")
            finally:
                delete_topics([topic])
    return results


# ---- latency through a read_committed consumer ------------------------------------------------------

def measure_latency(mode: DeliveryMode, records: int = 1000, rate_per_s: int = 1000,
                    record_size: int = 100) -> LatencyRun:
    """Produce at a steady rate and time each record until a read_committed consumer sees it."""
    if record_size < 8:
        raise EoslabError("latency records carry an 8-byte timestamp: use record_size >= 8")
    topic = create_topics([unique_name(f"bench-latency-{mode.name}")])[0]
    config = {**BATCHING, **mode.config}
    if mode.transactional:
        config["transactional.id"] = unique_name(f"bench-latency-{mode.name}")
    producer = make_producer(config)
    consumer = make_consumer({"group.id": unique_name("bench-latency"),
                              "isolation.level": "read_committed",  # sees records only once committed
                              "enable.auto.commit": False,           # nothing to resume: one-off reader
                              "fetch.wait.max.ms": 10})              # answer fetches promptly
    latencies: list[float] = []
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        if mode.transactional:
            producer.init_transactions(30)
            producer.begin_transaction()
        padding = b"\0" * (record_size - 8)
        started = time.perf_counter()
        transaction_started = started
        deadline = started + records / rate_per_s + 30

        def drain(timeout_s: float) -> None:
            for message in consumer.consume(500, timeout_s):
                if message.error() is None:
                    sent_ns = struct.unpack(">q", message.value()[:8])[0]
                    latencies.append((time.perf_counter_ns() - sent_ns) / 1e6)

        for index in range(records):
            due = started + index / rate_per_s
            while time.perf_counter() < due:  # pacing the load, not synchronising on anything
                drain(max(0.0, min(0.002, due - time.perf_counter())))
            producer.produce(topic, struct.pack(">q", time.perf_counter_ns()) + padding)
            producer.poll(0)
            if mode.transactional and time.perf_counter() - transaction_started >= mode.commit_interval_ms / 1000:
                producer.commit_transaction(30)
                producer.begin_transaction()
                transaction_started = time.perf_counter()
        if mode.transactional:
            producer.commit_transaction(30)
        else:
            producer.flush(30)
        while len(latencies) < records and time.perf_counter() < deadline:
            drain(0.05)
        if len(latencies) < records:
            raise EoslabError(f"the read_committed consumer saw {len(latencies)} of {records} records "
                              f"of the {mode.name} latency run; check the broker")
    finally:
        consumer.close()
        delete_topics([topic])
    return LatencyRun(mode.name, records, rate_per_s, latencies)


# ---- consume-transform-produce ----------------------------------------------------------------------

@dataclass(frozen=True)
class PipelineRun:
    guarantee: str          # "at-least-once" or "exactly-once"
    commit_interval_ms: int
    records: int
    seconds: float

    @property
    def records_per_s(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else float("inf")


def fill_topic(topic: str, records: int, record_size: int) -> None:
    """Write the pipeline's input quickly (acks=all, not measured)."""
    producer = make_producer({**BATCHING, "acks": "all", "enable.idempotence": True})  # input must be complete
    counter = _DeliveryCounter()
    payload = os.urandom(record_size)
    for _ in range(records):
        _produce_one(producer, topic, payload, counter)
    producer.flush(RUN_TIMEOUT_S)
    if counter.acknowledged != records:
        raise EoslabError(f"only {counter.acknowledged} of {records} input records were written; rerun")


def _first_message(consumer: Any, deadline: float) -> Any:
    while time.perf_counter() < deadline:
        message = consumer.poll(0.05)
        if message is not None and message.error() is None:
            return message
    raise EoslabError("the pipeline's input topic returned no record before the deadline; check the broker")


def measure_pipeline(guarantee: str, commit_interval_ms: int, input_topic: str, records: int) -> PipelineRun:
    """Copy ``records`` records from ``input_topic`` to a fresh output topic, transforming each."""
    if guarantee not in ("at-least-once", "exactly-once"):
        raise EoslabError(f"guarantee is 'at-least-once' or 'exactly-once', not {guarantee!r}")
    exactly_once = guarantee == "exactly-once"
    output_topic = create_topics([unique_name("bench-pipeline-out")])[0]
    consumer = make_consumer({"group.id": unique_name("bench-pipeline"),
                              "isolation.level": "read_committed",  # both: the input is committed data
                              "enable.auto.commit": False,  # offsets are committed by the loop below
                              "auto.offset.reset": "earliest"})
    producer_config = {**BATCHING, "enable.idempotence": True, "acks": "all"}  # both: no duplicates from resends
    if exactly_once:
        producer_config["transactional.id"] = unique_name("bench-pipeline")
    producer = make_producer(producer_config)
    interval_s = commit_interval_ms / 1000
    processed = 0
    try:
        consumer.assign([TopicPartition(input_topic, 0, 0)])
        if exactly_once:
            producer.init_transactions(30)
        deadline = time.perf_counter() + RUN_TIMEOUT_S
        first = _first_message(consumer, deadline)  # the clock starts when data flows, not at the group join
        started = batch_started = time.perf_counter()
        if exactly_once:
            producer.begin_transaction()
        _produce_one(producer, output_topic, first.value()[::-1], lambda *_: None)
        processed, committed = 1, 0
        while processed < records:
            if time.perf_counter() > deadline:
                raise EoslabError(f"the {guarantee} pipeline copied {processed} of {records} records in "
                                  f"{RUN_TIMEOUT_S:.0f} s; check the broker")
            for message in consumer.consume(1000, 0.05):
                if message.error() is not None:
                    continue
                _produce_one(producer, output_topic, message.value()[::-1], lambda *_: None)  # the "transform"
                processed += 1
            finished = processed >= records
            due = finished or time.perf_counter() - batch_started >= interval_s
            if due and processed == committed:
                batch_started = time.perf_counter()  # nothing new arrived this interval: nothing to commit
            elif due:
                committed = processed
                if exactly_once:
                    producer.send_offsets_to_transaction(consumer.position(consumer.assignment()),
                                                         consumer.consumer_group_metadata(), 30)
                    producer.commit_transaction(30)
                    if not finished:
                        producer.begin_transaction()
                else:
                    producer.flush(30)  # outputs acknowledged first, then offsets: at-least-once
                    consumer.commit(offsets=consumer.position(consumer.assignment()), asynchronous=False)
                batch_started = time.perf_counter()
        seconds = time.perf_counter() - started
    finally:
        consumer.close()
        delete_topics([output_topic])
    return PipelineRun(guarantee, commit_interval_ms, records, seconds)


def pipeline_rounds(records: int, intervals_ms: list[int], runs: int, record_size: int = 100,
                    progress: Callable[[str], None] | None = None) -> list[PipelineRun]:
    """Both guarantees × every interval once per round, all reading the same filled input topic."""
    input_topic = create_topics([unique_name("bench-pipeline-in")])[0]
    results: list[PipelineRun] = []
    try:
        fill_topic(input_topic, records, record_size)
        for round_index in range(runs):
            for interval_ms in intervals_ms:
                for guarantee in ("at-least-once", "exactly-once"):
                    run = measure_pipeline(guarantee, interval_ms, input_topic, records)
                    results.append(run)
                    if progress:
                        progress(f"round {round_index + 1}/{runs} {guarantee:<14} every {interval_ms:>4} ms "
                                 f"{run.records_per_s:>10,.0f} rec/s")
    finally:
        delete_topics([input_topic])
    return results


def median_and_spread(values: list[float]) -> tuple[float, float, float]:
    """(median, min, max)."""
    return statistics.median(values), min(values), max(values)
