"""How long the embedded broker takes to become ready, and how much memory its JVM uses.

Usage (from the repository root, in the course's environment)::

    python bench/broker_startup.py            # 3 runs with AppCDS, 3 without, alternating
    python bench/broker_startup.py --runs 5
    python bench/broker_startup.py --appcds on   # only with the archive (off: only without)

Each run uses its own free loopback ports and a new temporary state dir, and measures:

- **fresh start**: ``EmbeddedBroker.start()`` on an empty data dir (storage format, JVM start, and
  the readiness check: metadata *and* ``init_transactions()``) until it returns;
- a small transactional workload (committed transactions, read back by a read_committed consumer);
- **graceful stop**, then **restart on existing data**: ``start()`` again on the same data dir;
- **peak RSS** of the broker JVM: psutil samples every 50 ms during each start and the workload, and
  the kernel's own high-water mark (VmHWM, Linux) read just before each stop.

Each run is made twice, alternately: **without AppCDS** (``EOSLAB_APPCDS=0``: the JVM loads every
class from the jars, as before issue 18) and **with AppCDS** (eoslab/broker/appcds.py: the archive
is made once, by a warm-up start and clean stop, before the first such run, so every run with it
measures the steady state a learner sees from the second start on).

Assumptions: nothing else is measured at the same time, but the machine may be shared, so the
table shows median, min and max. The JVM heap is capped by eoslab/broker/properties.py (JVM_HEAP);
RSS is larger than the heap (metaspace, code cache, thread stacks, direct buffers). Not measured:
a broker under sustained load, or the first ever run's jar download (cached jars are used).
Prints a table; writes bench/results/broker_startup.json.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from eoslab.observe import benchreport
from eoslab.broker import EmbeddedBroker, appcds
from eoslab.broker.properties import JVM_HEAP
from eoslab.kafka.clients import create_topics, make_consumer, make_producer, unique_name
from eoslab.errors import EoslabError
from eoslab.broker.netutil import free_port_block

RESULTS = Path(__file__).resolve().parent / "results"
SAMPLE_INTERVAL_S = 0.05
TRANSACTIONS = 20
RECORDS_PER_TRANSACTION = 50
WORKLOAD_DEADLINE_S = 60.0
MB = 1024 * 1024


class PeakRssSampler:
    """Samples the broker JVM's resident set size in a thread; ``peak`` is the largest seen."""

    def __init__(self, broker: EmbeddedBroker) -> None:
        self._broker = broker
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self.peak = 0
        self.samples = 0
        self._created = time.monotonic()
        self.jvm_seen_after_s: float | None = None  # from construction to the first sample of the JVM

    def __enter__(self) -> PeakRssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _sample(self) -> None:
        while not self._stop.wait(SAMPLE_INTERVAL_S):
            pid = self._broker.pid()  # None until the JVM is launched
            if pid is None:
                continue
            if self.jvm_seen_after_s is None:
                self.jvm_seen_after_s = time.monotonic() - self._created
            try:
                self.peak = max(self.peak, psutil.Process(pid).memory_info().rss)
                self.samples += 1
            except psutil.Error:
                pass  # the JVM exited between pid() and the read


def kernel_high_water_mark(pid: int | None) -> int | None:
    """VmHWM, the peak RSS the kernel recorded for the process (Linux only), in bytes."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return None


def cpu_seconds(broker: EmbeddedBroker, children_before: float) -> float:
    """CPU time (user + system) spent on the start: the broker JVM's so far, plus the short JVMs
    this process waited for meanwhile (storage format, ``java -version``, the AppCDS check). Unlike
    wall time, it hardly depends on what else the machine runs."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        times = psutil.Process(broker.pid()).cpu_times()
        jvm = times.user + times.system
    except (psutil.Error, TypeError, ValueError):
        jvm = 0.0
    return jvm + usage.ru_utime + usage.ru_stime - children_before


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_start(broker: EmbeddedBroker) -> tuple[float, float, int]:
    """Seconds from ``start()`` to its return (ready) and to the JVM's launch, and the peak RSS meanwhile.

    The launch comes after the Java version check and, on a fresh data dir, the storage format (a
    JVM of its own), so fresh minus existing launch time is roughly the cost of formatting.
    """
    before = children_cpu()
    with PeakRssSampler(broker) as sampler:
        started = time.monotonic()
        broker.start(quiet=True)
        elapsed = time.monotonic() - started
    broker.cpu_to_ready_s = cpu_seconds(broker, before)  # type: ignore[attr-defined]
    return elapsed, sampler.jvm_seen_after_s or elapsed, sampler.peak


def transactional_workload(bootstrap: str) -> float:
    """Commit TRANSACTIONS small transactions, read them back read_committed; returns seconds."""
    started = time.monotonic()
    topic = create_topics([unique_name("bench-startup")], bootstrap_servers=bootstrap)[0]
    producer = make_producer({
        "transactional.id": unique_name("bench-startup"),
        "enable.idempotence": True,  # required by transactions; librdkafka defaults to False
    }, bootstrap_servers=bootstrap)
    producer.init_transactions(30)
    for transaction in range(TRANSACTIONS):
        producer.begin_transaction()
        for record in range(RECORDS_PER_TRANSACTION):
            producer.produce(topic, value=f"{transaction}-{record}".encode())
        producer.commit_transaction(30)
    consumer = make_consumer({
        "group.id": unique_name("bench-startup"),
        "isolation.level": "read_committed",  # what the course's consumers use
        "enable.auto.commit": False,  # the benchmark leaves no offsets behind
        "enable.partition.eof": True,  # marks the end of what was written
    }, bootstrap_servers=bootstrap)
    consumer.assign([TopicPartition(topic, 0, 0)])
    expected, received = TRANSACTIONS * RECORDS_PER_TRANSACTION, 0
    deadline = time.monotonic() + WORKLOAD_DEADLINE_S
    try:
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            if message.error():
                if message.error().code() == KafkaError._PARTITION_EOF:
                    break
                raise KafkaException(message.error())
            received += 1
    finally:
        consumer.close()
    if received != expected:
        raise RuntimeError(f"the workload read {received} records, expected {expected}")
    return time.monotonic() - started


def one_run(number: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="eoslab-bench-startup-") as state_dir:
        broker = EmbeddedBroker(state_dir=state_dir, port=free_port_block())
        try:
            fresh_s, fresh_launch_s, fresh_peak = timed_start(broker)
            fresh_cpu = broker.cpu_to_ready_s  # type: ignore[attr-defined]
            with PeakRssSampler(broker) as sampler:
                workload_s = transactional_workload(broker.bootstrap)
            first_hwm = kernel_high_water_mark(broker.pid())
            stop_started = time.monotonic()
            broker.stop()
            stop_s = time.monotonic() - stop_started
            existing_s, existing_launch_s, existing_peak = timed_start(broker)
            existing_cpu = broker.cpu_to_ready_s  # type: ignore[attr-defined]
            second_hwm = kernel_high_water_mark(broker.pid())
        finally:
            broker.stop()
    run = {
        "run": number,
        "fresh_start_s": round(fresh_s, 2),
        "existing_start_s": round(existing_s, 2),
        "fresh_cpu_to_ready_s": round(fresh_cpu, 2),
        "existing_cpu_to_ready_s": round(existing_cpu, 2),
        "fresh_jvm_launched_after_s": round(fresh_launch_s, 2),
        "existing_jvm_launched_after_s": round(existing_launch_s, 2),
        "graceful_stop_s": round(stop_s, 2),
        "workload_s": round(workload_s, 2),
        "peak_rss_sampled_mb": round(max(fresh_peak, sampler.peak, existing_peak) / MB, 1),
        "peak_rss_fresh_start_mb": round(fresh_peak / MB, 1),
        "peak_rss_workload_mb": round(sampler.peak / MB, 1),
        "peak_rss_existing_start_mb": round(existing_peak / MB, 1),
        "kernel_peak_rss_mb": round(max(first_hwm or 0, second_hwm or 0) / MB, 1) or None,
        "load_average_1min": round(os.getloadavg()[0], 2),  # the machine may be shared: context for the times
    }
    print(f"run {number}: fresh {run['fresh_start_s']} s ({run['fresh_cpu_to_ready_s']} s CPU), existing "
          f"{run['existing_start_s']} s ({run['existing_cpu_to_ready_s']} s CPU), "
          f"peak RSS {run['peak_rss_sampled_mb']} MB (kernel {run['kernel_peak_rss_mb']} MB)", flush=True)
    return run


def prepare_archive() -> None:
    """Start and cleanly stop a broker once, so the AppCDS archive exists (a no-op if it does)."""
    with tempfile.TemporaryDirectory(prefix="eoslab-bench-startup-") as state_dir:
        broker = EmbeddedBroker(state_dir=state_dir, port=free_port_block())
        try:
            broker.start(quiet=True)
        finally:
            broker.stop()


def run_variant(number: int, failures: list[str], use_appcds: bool) -> dict[str, Any]:
    saved = os.environ.get(appcds.ENV_SWITCH)
    os.environ[appcds.ENV_SWITCH] = "1" if use_appcds else "0"
    try:
        print(f"{'with' if use_appcds else 'without'} AppCDS:", end=" ", flush=True)
        return {**run_with_one_retry(number, failures), "appcds": use_appcds}
    finally:
        if saved is None:
            os.environ.pop(appcds.ENV_SWITCH, None)
        else:
            os.environ[appcds.ENV_SWITCH] = saved


def run_with_one_retry(number: int, failures: list[str]) -> dict[str, Any]:
    """One run; on a start failure, one more on new ports (the failure is kept for the report).

    On a shared machine another program can take a freed port in the seconds between a stop and the
    next start; that says nothing about the broker's start-up time, but it is reported, not hidden.
    """
    try:
        return one_run(number)
    except EoslabError as error:
        failures.append(f"run {number}: {error}")
        print(f"run {number} failed ({error}); retrying once on new ports", flush=True)
        return one_run(number)


def summarise(runs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    keys = [key for key in runs[0] if key not in ("run", "appcds") and all(run[key] is not None for run in runs)]
    return {key: {"median": statistics.median(run[key] for run in runs), "min": min(run[key] for run in runs),
                  "max": max(run[key] for run in runs), "runs": len(runs)} for key in keys}


def table(summary: dict[str, dict[str, float]]) -> str:
    labels = {
        "fresh_start_s": "start to ready, fresh data dir (s)",
        "existing_start_s": "start to ready, existing data (s)",
        "fresh_cpu_to_ready_s": "CPU (user+sys) to ready, fresh (s)",
        "existing_cpu_to_ready_s": "CPU (user+sys) to ready, existing (s)",
        "fresh_jvm_launched_after_s": "  of which before JVM launch, fresh (s)",
        "existing_jvm_launched_after_s": "  of which before JVM launch, existing (s)",
        "graceful_stop_s": "graceful stop (s)",
        "workload_s": f"workload: {TRANSACTIONS} txns x {RECORDS_PER_TRANSACTION} records (s)",
        "peak_rss_sampled_mb": "broker JVM peak RSS, sampled (MB)",
        "kernel_peak_rss_mb": "broker JVM peak RSS, kernel VmHWM (MB)",
        "load_average_1min": "machine load average, 1 min (cores busy)",
    }
    lines = [f"{'measure':<46} {'median':>8} {'min':>8} {'max':>8}", "-" * 73]
    for key, label in labels.items():
        if key in summary:
            row = summary[key]
            lines.append(f"{label:<46} {row['median']:>8.1f} {row['min']:>8.1f} {row['max']:>8.1f}")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="example: python bench/broker_startup.py --runs 5")
    parser.add_argument("--runs", type=int, default=3, help="independent runs, each on a new data dir (default 3)")
    parser.add_argument("--out", type=Path, default=RESULTS / "broker_startup.json", help="where the JSON goes")
    parser.add_argument("--appcds", choices=["both", "on", "off"], default="both",
                        help="runs with the AppCDS archive, without it, or both alternately (default)")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    failures: list[str] = []
    variants = {"both": [False, True], "on": [True], "off": [False]}[args.appcds]
    if True in variants:
        prepare_archive()
    runs = [run_variant(number, failures, use) for number in range(1, args.runs + 1) for use in variants]
    summaries = {("with_appcds" if use else "without_appcds"): summarise([run for run in runs if run["appcds"] is use])
                 for use in variants}
    report = {
        "benchmark": "broker_startup",
        "machine": benchreport.machine(),
        "settings": {"runs": args.runs, "cpus": os.cpu_count(), "jvm_heap": JVM_HEAP, "transactions": TRANSACTIONS,
                     "records_per_transaction": RECORDS_PER_TRANSACTION, "rss_sample_interval_s": SAMPLE_INTERVAL_S,
                     "wall_time_s": round(time.monotonic() - started, 1)},
        "summary": summaries,  # {"with_appcds": {...}, "without_appcds": {...}}
        "runs": runs,
        "failed_attempts": failures,
    }
    for name, one in summaries.items():
        print(f"\n{name.replace('_', ' ')}:")
        print(table(one))
    path = benchreport.write_json(report, args.out)
    print(f"\nwrote {path} in {report['settings']['wall_time_s']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
