"""What the fault proxy costs when no fault is on: producer throughput through it against direct.

Usage (from the repository root, in the course's environment)::

    python bench/proxy_overhead.py                       # 5 rounds, 50,000 records of 100 B and 1 KB
    python bench/proxy_overhead.py --runs 3 --records 20000 --layouts process

Each round sends N records of each size directly to the broker and through a
:class:`~eoslab.chaos.FaultProxy` with no fault on (bootstrapped on it, so every request and
response crosses it), rotating the order after an untimed warm-up burst on the round's fresh
topic, and takes each ratio within the round (proxied ÷ direct
records/s), so both see the same background load. Two layouts of the proxy:

- ``process``: the proxy in another process than the producer — the course's layout, where load
  comes from :mod:`eoslab.workers` subprocesses and the notebook kernel running the proxy is idle;
- ``thread``: the proxy in a thread of the producing Python process itself — the worst case. The
  producer's ``produce()`` loop holds the GIL, and every socket call of the proxy thread gives the
  GIL up and waits for it again (up to ``sys.getswitchinterval()``, 5 ms), which caps throughput.

The producer is the course's recommended one (``idempotent`` in :mod:`eoslab.observe.throughput`:
acks=all, idempotence, 5 in flight, its batching settings), timed by
:func:`eoslab.observe.throughput.measure_produce` from the first ``produce()`` to the last acknowledgement.
Also reported: the proxy's CPU time per MB (its own cost, whatever the load) and the round trip of
one acknowledged record (median, p90), direct and through each layout.

Assumptions: one broker on loopback, one partition; the machine may be shared, hence medians and
the min–max spread, and the load average in the report. The aim is a proxy that costs under 20 %.
Not measured: faults (they are meant to be slow), consumers. Starts its own broker on free ports
and a temporary state dir unless ``KAFKA_BOOTSTRAP_SERVERS`` names one (then set
``EOSLAB_PROXY_ADDRESS``/``EOSLAB_PROXY_UPSTREAM`` for its proxied listener).
Prints a table; writes bench/results/proxy_overhead.json.
"""

from __future__ import annotations

import argparse
import os
import select
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil

from eoslab.observe import benchreport
from eoslab.chaos import FaultProxy
from eoslab.kafka.clients import create_topics, delete_topics, make_producer, unique_name
from eoslab.kafka.connect import proxy_addresses
from eoslab.errors import EoslabError
from eoslab.broker.settings import LOOPBACK, BrokerPorts
from eoslab.observe.throughput import BATCHING, ProduceRun, benchmark_broker, measure_produce, median_and_spread, mode_named

RESULTS = Path(__file__).resolve().parent / "results"
AIM_OVERHEAD = 0.20
PRODUCER_MODE = "idempotent"
LAYOUTS = ("process", "thread")
CHILD_START_TIMEOUT_S = 15.0
# The proxy in a child process: it stops when its stdin closes (we close it, or we die).
CHILD_PROXY = """\
import sys
from eoslab.chaos import FaultProxy
proxy = FaultProxy(sys.argv[1], sys.argv[2]).start()
print("listening", flush=True)
sys.stdin.read()
proxy.stop()
"""


@contextmanager
def bootstrapped_on(address: str) -> Iterator[None]:
    """Clients made by eoslab.kafka.clients inside the block connect to ``address``."""
    saved = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    os.environ["KAFKA_BOOTSTRAP_SERVERS"] = address
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("KAFKA_BOOTSTRAP_SERVERS", None)
        else:
            os.environ["KAFKA_BOOTSTRAP_SERVERS"] = saved


def proxy_addresses_for(bootstrap: str) -> tuple[str, str]:
    """(listen, upstream) for the broker at ``bootstrap``: its port + 3 and its proxied listener (+2)."""
    if os.environ.get("EOSLAB_PROXY_ADDRESS") or os.environ.get("EOSLAB_PROXY_UPSTREAM"):
        return proxy_addresses()
    ports = BrokerPorts(int(bootstrap.rsplit(":", 1)[1]))
    return f"{LOOPBACK}:{ports.proxy}", f"{LOOPBACK}:{ports.proxied}"


@contextmanager
def running_proxy(layout: str, listen: str, upstream: str) -> Iterator[Callable[[], float]]:
    """A proxy in ``layout``, listening; yields a function returning the CPU seconds it has used."""
    if layout == "thread":
        with FaultProxy(listen, upstream) as proxy:
            yield proxy.cpu_seconds
        return
    child = subprocess.Popen([sys.executable, "-c", CHILD_PROXY, listen, upstream], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        ready, _, _ = select.select([child.stdout], [], [], CHILD_START_TIMEOUT_S)
        # the child writes one whole line, or exits (EOF: readline returns "")
        if not ready or "listening" not in child.stdout.readline():
            raise EoslabError(f"the proxy process did not start listening on {listen} within "
                              f"{CHILD_START_TIMEOUT_S:.0f} s; is the port free?")
        process = psutil.Process(child.pid)
        yield lambda: sum(process.cpu_times()[:2])
    finally:
        if child.stdin:
            child.stdin.close()
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(5)


def run_rounds(bootstrap: str, layouts: list[str], runs: int, records: int, sizes: list[int],
               proxy_cpu: dict[tuple[int, int, str], float]) -> list[ProduceRun]:
    """Every size, direct and through each layout, once per round; ``proxy_cpu`` gets CPU s per run."""
    mode = mode_named(PRODUCER_MODE)
    listen, upstream = proxy_addresses_for(bootstrap)
    paths = ["direct", *layouts]
    results: list[ProduceRun] = []
    for round_index in range(runs):
        order = paths[round_index % len(paths):] + paths[:round_index % len(paths)]  # rotate who goes first
        for size in sizes:
            topic = create_topics([unique_name(f"bench-proxy-{size}b")])[0]
            try:
                # Untimed: the first writes to a fresh topic are slower, and would penalise whoever goes first.
                with bootstrapped_on(bootstrap):
                    measure_produce(mode, topic, max(1, records // 5), size)
                for path in order:
                    if path == "direct":
                        with bootstrapped_on(bootstrap):
                            run = measure_produce(mode, topic, records, size)
                    else:
                        with running_proxy(path, listen, upstream) as cpu_seconds:
                            before = cpu_seconds()
                            with bootstrapped_on(listen):
                                run = measure_produce(mode, topic, records, size)
                            # includes the producer's warm-up, outside measure_produce's clock: an upper bound
                            proxy_cpu[(round_index, size, path)] = cpu_seconds() - before
                    results.append(ProduceRun(path, size, records, run.seconds))
                    print(f"round {round_index + 1}/{runs} {size:>5} B {path:<8} "
                          f"{results[-1].records_per_s:>10,.0f} rec/s", flush=True)
            finally:
                delete_topics([topic])
    return results


def round_trips(bootstrap: str, layouts: list[str], samples: int) -> dict[str, Any]:
    """Median and p90 (ms) of one acknowledged 100 B record at a time, direct and through each layout."""
    topic = create_topics([unique_name("bench-proxy-rtt")])[0]
    listen, upstream = proxy_addresses_for(bootstrap)
    report: dict[str, Any] = {"samples": samples}
    try:
        for path in ["direct", *layouts]:
            if path == "direct":
                report[path] = _time_round_trips(topic, bootstrap, samples)
            else:
                with running_proxy(path, listen, upstream):
                    report[path] = _time_round_trips(topic, listen, samples)
                report[path]["added_median_ms"] = report[path]["median_ms"] - report["direct"]["median_ms"]
    finally:
        delete_topics([topic])
    return report


def _time_round_trips(topic: str, address: str, samples: int) -> dict[str, float]:
    producer = make_producer({**mode_named(PRODUCER_MODE).config,
                              "linger.ms": 0},  # send at once: we time one record's round trip
                             bootstrap_servers=address)
    timings = []
    for index in range(samples + 1):
        started = time.perf_counter()
        producer.produce(topic, b"r" * 100)
        if producer.flush(10):
            raise EoslabError(f"a round-trip record via {address} was not acknowledged in 10 s; check the broker")
        if index:  # the first one also connects and fetches a producer id
            timings.append(1000 * (time.perf_counter() - started))
    timings.sort()
    return {"median_ms": statistics.median(timings), "p90_ms": timings[int(0.9 * len(timings))]}


def _spread(values: list[float]) -> dict[str, float]:
    median, low, high = median_and_spread(values)
    return {"median": median, "min": low, "max": high}


def summarise(results: list[ProduceRun], sizes: list[int], layouts: list[str],
              proxy_cpu: dict[tuple[int, int, str], float]) -> list[dict[str, Any]]:
    rows = []
    for size in sizes:
        direct = [run for run in results if run.record_size == size and run.mode == "direct"]
        megabytes = direct[0].records * size / 1e6
        row: dict[str, Any] = {"record_size": size, "records": direct[0].records,
                               "direct": {"records_per_s": _spread([run.records_per_s for run in direct]),
                                          "runs_records_per_s": [round(run.records_per_s) for run in direct]}}
        for layout in layouts:
            proxied = [run for run in results if run.record_size == size and run.mode == layout]
            ratios = [p.records_per_s / d.records_per_s for p, d in zip(proxied, direct)]  # same round
            cpu = [seconds for (_, run_size, path), seconds in proxy_cpu.items() if run_size == size and path == layout]
            ratio = _spread(ratios)
            row[layout] = {"records_per_s": _spread([run.records_per_s for run in proxied]),
                           "runs_records_per_s": [round(run.records_per_s) for run in proxied],
                           "ratio_to_direct": {**ratio, "per_round": ratios},
                           "overhead_median": 1 - ratio["median"],
                           "meets_aim": 1 - ratio["median"] < AIM_OVERHEAD,
                           "proxy_cpu_ms_per_mb_median": 1000 * statistics.median(cpu) / megabytes}
        rows.append(row)
    return rows


def table(rows: list[dict[str, Any]], layouts: list[str]) -> str:
    lines = [f"{'size':>6} {'path':<8} {'rec/s':>9} {'MB/s':>6} {'÷ direct (min-max)':>20} {'overhead':>9} "
             f"{'proxy CPU ms/MB':>16}"]
    for row in rows:
        size = row["record_size"]
        direct = row["direct"]["records_per_s"]["median"]
        lines.append(f"{size:>5}B {'direct':<8} {direct:>9,.0f} {direct * size / 1e6:>6.1f}")
        for layout in layouts:
            entry = row[layout]
            rate, ratio = entry["records_per_s"]["median"], entry["ratio_to_direct"]
            lines.append(f"{'':>6} {layout:<8} {rate:>9,.0f} {rate * size / 1e6:>6.1f} "
                         f"{ratio['median']:>7.2f} ({ratio['min']:.2f}-{ratio['max']:.2f}) "
                         f"{entry['overhead_median']:>8.0%} {entry['proxy_cpu_ms_per_mb_median']:>16.2f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="rounds (default 5)")
    parser.add_argument("--records", type=int, default=50_000, help="records per run (default 50000)")
    parser.add_argument("--sizes", default="100,1024", help="record sizes in bytes (default 100,1024)")
    parser.add_argument("--layouts", default=",".join(LAYOUTS), help="process,thread (default both)")
    parser.add_argument("--round-trips", type=int, default=200, help="single-record round trips timed per path")
    parser.add_argument("--output", type=Path, default=RESULTS / "proxy_overhead.json")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    layouts = [layout for layout in args.layouts.split(",") if layout]
    unknown = set(layouts) - set(LAYOUTS)
    if unknown:
        parser.error(f"unknown layout(s) {', '.join(sorted(unknown))}; choose from {', '.join(LAYOUTS)}")

    started = time.time()
    proxy_cpu: dict[tuple[int, int, str], float] = {}
    with benchmark_broker() as bootstrap:
        results = run_rounds(bootstrap, layouts, args.runs, args.records, sizes, proxy_cpu)
        latency = round_trips(bootstrap, layouts, args.round_trips)
    rows = summarise(results, sizes, layouts, proxy_cpu)
    report = {
        "benchmark": "proxy_overhead",
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "machine": benchreport.machine(),
        "load_average_at_end": os.getloadavg(),
        "settings": {"runs": args.runs, "records": args.records, "record_sizes": sizes, "layouts": layouts,
                     "producer_mode": PRODUCER_MODE, "producer_config": mode_named(PRODUCER_MODE).config,
                     "batching": BATCHING, "aim_overhead_below": AIM_OVERHEAD},
        "results": rows,
        "round_trip": latency,
    }
    print()
    print(table(rows, layouts))
    print("\none 100 B record, acks=all, round trip (median / p90 ms): " + ", ".join(
        f"{path} {latency[path]['median_ms']:.2f} / {latency[path]['p90_ms']:.2f}" for path in ["direct", *layouts]))
    print(f"load average at the end: {' '.join(f'{value:.1f}' for value in os.getloadavg())} on {os.cpu_count()} CPUs")
    print(f"written: {benchreport.write_json(report, args.output)}")


if __name__ == "__main__":
    main()
