"""Consume-transform-produce throughput: at-least-once against exactly-once, per commit interval.

Usage (from the repository root, in the course's environment)::

    python bench/pipeline.py                 # the documented run
    python bench/pipeline.py --quick         # a small check (seconds)
    python bench/pipeline.py --records 100000 --runs 3 --intervals 10,100,1000

Uses KAFKA_BOOTSTRAP_SERVERS if set, else starts a private broker on free ports in a temporary
directory and stops it afterwards. Prints a table; writes JSON and a PNG chart into bench/results/.
The loops are minimal (no retries); see eoslab/observe/throughput.py.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from eoslab.observe import benchreport
from eoslab.observe.throughput import benchmark_broker, pipeline_rounds

RESULTS = Path(__file__).resolve().parent / "results"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="example: python bench/pipeline.py --quick")
    parser.add_argument("--records", type=int, default=None, help="records per run (default 500000; --quick 1000)")
    parser.add_argument("--runs", type=int, default=None, help="rounds (default 5; --quick 1)")
    parser.add_argument("--intervals", default="10,100,1000", help="commit intervals in ms (default 10,100,1000)")
    parser.add_argument("--quick", action="store_true", help="tiny run to check that everything works")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the JSON and PNG go (default bench/results)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    records = args.records or (1000 if args.quick else 500_000)
    runs = args.runs or (1 if args.quick else 5)
    intervals = [int(value) for value in args.intervals.split(",")]
    started = time.monotonic()
    with benchmark_broker() as bootstrap:
        print(f"broker {bootstrap}; {records} records × intervals {intervals} × {runs} rounds", flush=True)
        runs_measured = pipeline_rounds(records, intervals, runs, progress=lambda line: print(line, flush=True))
    report = benchreport.pipeline_report(runs_measured, runs)
    report["settings"].update(records=records, intervals_ms=intervals, wall_time_s=round(time.monotonic() - started, 1))
    benchreport.publish(report, benchreport.pipeline_table(report), benchreport.plot_pipeline(report),
                        args.out, "pipeline")
    return 0


if __name__ == "__main__":
    sys.exit(main())
