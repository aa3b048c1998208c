"""Exactly-once under failover: assignment 06's copier on the three-node cluster (RF=3,
min.insync.replicas=2) while the input's leader, the output's leader and the transaction
coordinator are SIGKILLed in turn (each restarted before the next), then output == input checked.

Usage (from the repository root, in the course's environment)::

    python bench/failover_pipeline.py                       # 100,000 records, the documented run
    python bench/failover_pipeline.py --records 20000       # smaller
    python bench/failover_pipeline.py --quick               # 5,000 records, to check that it works

Starts a private cluster on free ports in a temporary directory and stops it afterwards (or uses a
running one: --state-dir and --base-port of `eoslab cluster`). Prints the figures (records, kills,
elapsed, throughput, duplicates, lost) and writes them as JSON into bench/results/.
The copier is eoslab.workers.pipeline (see eoslab/workers/failover.py for what is killed when).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from eoslab.broker import Cluster
from eoslab.broker.netutil import free_port_block
from eoslab.broker.settings import ClusterPorts
from eoslab.workers import run_pipeline_under_failover

RESULTS = Path(__file__).resolve().parent / "results"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="example: python bench/failover_pipeline.py --records 100000")
    parser.add_argument("--records", type=int, default=None, help="records to copy (default 100000; --quick 5000)")
    parser.add_argument("--partitions", type=int, default=2, help="partitions of input and output (default 2)")
    parser.add_argument("--per-transaction", type=int, default=500, help="records per transaction (default 500)")
    parser.add_argument("--delay", type=float, default=0.0,
                        help="seconds of 'transform' per record, to keep the copier busy through every kill")
    parser.add_argument("--state-dir", type=Path, default=None, help="a running cluster's state dir (default: a private one)")
    parser.add_argument("--base-port", type=int, default=None, help="that cluster's EOSLAB_CLUSTER_PORT")
    parser.add_argument("--quick", action="store_true", help="a small run to check that everything works")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the JSON goes (default bench/results)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    records = args.records or (5_000 if args.quick else 100_000)
    delay = args.delay
    private = args.state_dir is None
    with tempfile.TemporaryDirectory(prefix="eoslab-failover-") as scratch:
        cluster = Cluster(state_dir=args.state_dir or Path(scratch) / "cluster",
                          base_port=args.base_port if args.base_port is not None else
                          (free_port_block(ClusterPorts(1024).size) if private else None))
        started = time.monotonic()
        if private:
            cluster.start(fresh=True, timeout_s=180)
            print(f"cluster {cluster.bootstrap} ready after {time.monotonic() - started:.1f} s", flush=True)
        try:
            print(f"copying {records} records ({args.partitions} partitions, {args.per_transaction} per transaction) "
                  f"while the input leader, the output leader and the coordinator are killed…", flush=True)
            result = run_pipeline_under_failover(cluster, records=records, partitions=args.partitions,
                                                 records_per_transaction=args.per_transaction, process_delay_s=delay,
                                                 timeout_s=max(300.0, records / 100))
        finally:
            if private:
                cluster.stop()
    figures = result.figures()
    figures["kill_details"] = [{"target": k.target, "node": k.node, "at_committed": k.at_committed,
                                "mid_copy": k.mid_copy, "failover_s": round(k.failover_s, 1),
                                "back_in_sync_s": round(k.back_s, 1)} for k in result.kills]
    figures["settings"] = {"partitions": args.partitions, "records_per_transaction": args.per_transaction,
                           "process_delay_s": delay, "replication_factor": 3, "min_insync_replicas": 2}
    print()
    print(f"records     {figures['records']}")
    print(f"kills       {figures['kills']} ({', '.join(f'{k.target} node {k.node} at {k.at_committed}' for k in result.kills)})")
    print(f"elapsed     {figures['elapsed_s']} s")
    print(f"throughput  {figures['throughput_per_s']} records/s")
    print(f"duplicates  {figures['duplicates']}")
    print(f"lost        {figures['lost']}")
    print(f"order       {figures['out_of_order']} out of order; copier runs {figures['copier_runs']}, "
          f"transactions aborted {figures['transactions_aborted']}")
    print()
    print(result.describe())
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "failover_pipeline.json").write_text(json.dumps(figures, indent=1) + "\n")
    return 0 if result.exactly_once and all(k.mid_copy for k in result.kills) else 1


if __name__ == "__main__":
    sys.exit(main())
