"""What the fault proxy costs when no fault is on: producer throughput through it against direct.

Usage (from the repository root, in the course's environment)::

    python bench/proxy_overhead.py                       # 5 rounds, 50,000 records of 100 B and 1 KB
    python bench/proxy_overhead.py --runs 3 --records 20000

Each round sends N records of each size twice — once bootstrapped directly on the broker, once on
the :class:`~eoslab.chaos.FaultProxy` (so every request and response crosses it) — alternating
which goes first, and takes the ratio within the round (proxied ÷ direct records/s), so both sides
see the same background load. The producer is the course's recommended one (``idempotent`` in
:mod:`eoslab.throughput`: acks=all, idempotence, 5 in flight, its batching settings), timed by
:func:`eoslab.throughput.measure_produce` from the first ``produce()`` to the last acknowledgement.

Assumptions: the proxy runs as in a notebook, in a thread of the producing process, so it shares
that process's GIL with the Python loop calling ``produce()``; one broker on loopback, one
partition; the machine may be shared, hence the median and the min–max spread. The aim is a proxy
that costs under 20 %. Not measured: faults (they are meant to be slow), consumers, latency.
Starts its own broker on free ports and a temporary state dir unless ``KAFKA_BOOTSTRAP_SERVERS``
names one (then set ``EOSLAB_PROXY_ADDRESS``/``EOSLAB_PROXY_UPSTREAM`` for its proxied listener).
Prints a table; writes bench/results/proxy_overhead.json.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from eoslab import benchreport
from eoslab.chaos import FaultProxy
from eoslab.clients import create_topics, delete_topics, unique_name
from eoslab.settings import LOOPBACK, BrokerPorts
from eoslab.throughput import BATCHING, ProduceRun, benchmark_broker, measure_produce, median_and_spread, mode_named

RESULTS = Path(__file__).resolve().parent / "results"
AIM_OVERHEAD = 0.20
PRODUCER_MODE = "idempotent"


@contextmanager
def bootstrapped_on(address: str) -> Iterator[None]:
    """Clients made by eoslab.clients inside the block connect to ``address``."""
    saved = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    os.environ["KAFKA_BOOTSTRAP_SERVERS"] = address
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("KAFKA_BOOTSTRAP_SERVERS", None)
        else:
            os.environ["KAFKA_BOOTSTRAP_SERVERS"] = saved


def proxy_for(bootstrap: str) -> FaultProxy:
    """The proxy for the broker at ``bootstrap``: its port + 3, forwarding to its proxied listener (+2)."""
    if os.environ.get("EOSLAB_PROXY_ADDRESS") or os.environ.get("EOSLAB_PROXY_UPSTREAM"):
        return FaultProxy()
    ports = BrokerPorts(int(bootstrap.rsplit(":", 1)[1]))
    return FaultProxy(listen=f"{LOOPBACK}:{ports.proxy}", upstream=f"{LOOPBACK}:{ports.proxied}")


def run_rounds(bootstrap: str, proxy: FaultProxy, runs: int, records: int, sizes: list[int],
               proxy_cpu: dict[tuple[int, int], float]) -> list[ProduceRun]:
    """Every size, direct and proxied, once per round; ``proxy_cpu`` gets the proxy thread's CPU s per run."""
    mode = mode_named(PRODUCER_MODE)
    results: list[ProduceRun] = []
    for round_index in range(runs):
        for size in sizes:
            topic = create_topics([unique_name(f"bench-proxy-{size}b")])[0]
            try:
                paths = [("direct", bootstrap), ("proxied", proxy.bootstrap)]
                if round_index % 2:
                    paths.reverse()  # alternate which goes first, so warm-up effects do not favour one
                for path, address in paths:
                    cpu_before = proxy.cpu_seconds()
                    with bootstrapped_on(address):
                        run = measure_produce(mode, topic, records, size)
                    results.append(ProduceRun(path, size, records, run.seconds))
                    if path == "proxied":
                        # includes the producer's warm-up, outside measure_produce's clock: an upper bound
                        proxy_cpu[(round_index, size)] = proxy.cpu_seconds() - cpu_before
                    print(f"round {round_index + 1}/{runs} {size:>5} B {path:<8} {results[-1].records_per_s:>10,.0f} rec/s",
                          flush=True)
            finally:
                delete_topics([topic])
    return results


def summarise(results: list[ProduceRun], sizes: list[int], proxy_cpu: dict[tuple[int, int], float]) -> list[dict[str, Any]]:
    rows = []
    for size in sizes:
        cpu = [seconds for (_, run_size), seconds in proxy_cpu.items() if run_size == size]
        direct = [run for run in results if run.record_size == size and run.mode == "direct"]
        proxied = [run for run in results if run.record_size == size and run.mode == "proxied"]
        ratios = [p.records_per_s / d.records_per_s for p, d in zip(proxied, direct)]  # same round
        row: dict[str, Any] = {"record_size": size, "records": direct[0].records}
        for name, runs in (("direct", direct), ("proxied", proxied)):
            median, low, high = median_and_spread([run.records_per_s for run in runs])
            row[name] = {"records_per_s": {"median": median, "min": low, "max": high},
                         "megabytes_per_s_median": median * size / 1e6,
                         "runs_records_per_s": [round(run.records_per_s) for run in runs]}
        median, low, high = median_and_spread(ratios)
        row["ratio_proxied_to_direct"] = {"median": median, "min": low, "max": high, "per_round": ratios}
        row["overhead_median"] = 1 - median
        megabytes = row["records"] * size / 1e6
        row["proxy_cpu_s_per_run"] = {"median": median_and_spread(cpu)[0], "min": min(cpu), "max": max(cpu)}
        row["proxy_cpu_ms_per_mb_median"] = 1000 * median_and_spread(cpu)[0] / megabytes
        row["meets_aim"] = 1 - median < AIM_OVERHEAD
        rows.append(row)
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'size':>6} {'direct rec/s':>13} {'MB/s':>7} {'proxied rec/s':>14} {'MB/s':>7} "
             f"{'ratio (min-max)':>20} {'overhead':>9} {'proxy CPU ms/MB':>16}"]
    for row in rows:
        direct, proxied, ratio = row["direct"], row["proxied"], row["ratio_proxied_to_direct"]
        lines.append(
            f"{row['record_size']:>5}B {direct['records_per_s']['median']:>13,.0f} {direct['megabytes_per_s_median']:>7.1f} "
            f"{proxied['records_per_s']['median']:>14,.0f} {proxied['megabytes_per_s_median']:>7.1f} "
            f"{ratio['median']:>7.2f} ({ratio['min']:.2f}-{ratio['max']:.2f}) {row['overhead_median']:>8.0%} "
            f"{row['proxy_cpu_ms_per_mb_median']:>16.1f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="rounds (default 5)")
    parser.add_argument("--records", type=int, default=50_000, help="records per run (default 50000)")
    parser.add_argument("--sizes", default="100,1024", help="record sizes in bytes (default 100,1024)")
    parser.add_argument("--output", type=Path, default=RESULTS / "proxy_overhead.json")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]

    started = time.time()
    with benchmark_broker() as bootstrap:
        with proxy_for(bootstrap) as proxy:
            proxy_cpu: dict[tuple[int, int], float] = {}
            results = run_rounds(bootstrap, proxy, args.runs, args.records, sizes, proxy_cpu)
            counters = proxy.counters()
    rows = summarise(results, sizes, proxy_cpu)
    report = {
        "benchmark": "proxy_overhead",
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "machine": benchreport.machine(),
        "load_average_at_end": os.getloadavg(),
        "settings": {"runs": args.runs, "records": args.records, "record_sizes": sizes,
                     "producer_mode": PRODUCER_MODE, "producer_config": mode_named(PRODUCER_MODE).config,
                     "batching": BATCHING, "proxy": "eoslab.chaos.FaultProxy in a thread of the producing process",
                     "aim_overhead_below": AIM_OVERHEAD},
        "results": rows,
        "proxy_counters": {key: counters[key] for key in ("connections", "requests_forwarded", "responses_dropped",
                                                          "bytes_to_broker", "bytes_to_clients")},
    }
    print()
    print(table(rows))
    print(f"\nwritten: {benchreport.write_json(report, args.output)}")


if __name__ == "__main__":
    main()
