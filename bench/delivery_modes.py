"""Producer throughput per delivery mode, and latency through a read_committed consumer.

Usage (from the repository root, in the course's environment)::

    python bench/delivery_modes.py                 # the documented run (a few minutes)
    python bench/delivery_modes.py --quick         # a small check (seconds)
    python bench/delivery_modes.py --records 100000 --runs 10 --sizes 1024

Uses KAFKA_BOOTSTRAP_SERVERS if set, else starts a private broker on free ports in a temporary
directory and stops it afterwards. Prints a table; writes JSON and a PNG chart into bench/results/.
What is measured and under which assumptions: see eoslab/observe/throughput.py.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from eoslab.observe import benchreport
from eoslab.observe.throughput import DELIVERY_MODES, benchmark_broker, measure_latency, produce_rounds

RESULTS = Path(__file__).resolve().parent / "results"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="example: python bench/delivery_modes.py --quick")
    parser.add_argument("--records", type=int, default=None, help="records per run (default 500000; --quick 2000)")
    parser.add_argument("--runs", type=int, default=None, help="rounds over all modes (default 5; --quick 1)")
    parser.add_argument("--sizes", default=None, help="record sizes in bytes, comma separated (default 100,1024)")
    parser.add_argument("--latency-records", type=int, default=None,
                        help="records per latency run at 1000 rec/s (default 3000; --quick 200)")
    parser.add_argument("--quick", action="store_true", help="tiny run to check that everything works")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the JSON and PNG go (default bench/results)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    records = args.records or (2000 if args.quick else 500_000)
    runs = args.runs or (1 if args.quick else 5)
    sizes = [int(size) for size in (args.sizes or ("100" if args.quick else "100,1024")).split(",")]
    latency_records = args.latency_records or (200 if args.quick else 3000)
    started = time.monotonic()
    with benchmark_broker() as bootstrap:
        print(f"broker {bootstrap}; {records} records × {len(DELIVERY_MODES)} modes × sizes {sizes} × {runs} rounds",
              flush=True)
        produce = produce_rounds(list(DELIVERY_MODES), records, sizes, runs, progress=lambda line: print(line, flush=True))
        latency_modes = [mode for mode in DELIVERY_MODES if mode.transactional or mode.name == "at-least-once"]
        latency = [measure_latency(mode, latency_records, rate_per_s=1000) for mode in latency_modes]
    report = benchreport.delivery_report(produce, latency, runs)
    report["settings"].update(records=records, record_sizes=sizes, latency_records=latency_records,
                              wall_time_s=round(time.monotonic() - started, 1))
    benchreport.publish(report, benchreport.delivery_table(report), benchreport.plot_delivery(report),
                        args.out, "delivery_modes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
