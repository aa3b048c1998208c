"""Exactly-once copiers as one consumer group: throughput per instance count, and a run under faults.

Usage (from the repository root, in the course's environment)::

    python bench/group_copiers.py                     # 100,000 records: 1, 2, 3 instances, then faults
    python bench/group_copiers.py --records 20000     # quicker

Uses KAFKA_BOOTSTRAP_SERVERS if set, else the course's embedded broker (started if needed). Prints,
per instance count, records per second copied exactly-once by an unhurt group (six partitions, 200
records per transaction); then one run of three instances under SIGKILLs, a zombie pause and a hard
broker restart (only when the course runs the broker); then, per assignment protocol (eager range,
cooperative-sticky, KIP-848's group.protocol=consumer), one instance joined by two more while it
copies. Each hurt run prints the verifier's verdict and the longest time the group committed
nothing (the rebalance pause). Exits 1 if any run was not exactly-once.
"""

from __future__ import annotations

import argparse
import os
import sys

from eoslab.kafka import bootstrap
from eoslab.workers.broker_faults import broker_is_controlled
from eoslab.workers.group_run import GroupFault, group_fault_plan, run_group_copiers

PROTOCOLS = {
    "eager (range, roundrobin)": {},
    "cooperative-sticky": {"partition.assignment.strategy": "cooperative-sticky"},
    "KIP-848 (group.protocol=consumer)": {"group.protocol": "consumer"},
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    address = bootstrap()
    print(f"broker {address}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    ok = True
    for instances in (1, 2, 3):
        result = run_group_copiers(records=args.records, partitions=args.partitions, instances=instances,
                                   plan=[], copy_delay_s=0.0, timeout_s=900, bootstrap=address)
        ok &= result.exactly_once
        print(f"{instances} instance(s), no faults: {args.records / result.elapsed_s:,.0f} records/s "
              f"({result.elapsed_s:.1f} s, topics and verification included); exactly once: {result.exactly_once}")
    plan = group_fault_plan(args.seed, 3, kills=6, pauses=1, broker_restarts=1 if broker_is_controlled() else 0)
    result = run_group_copiers(records=args.records, partitions=args.partitions, instances=3, plan=plan,
                               copy_delay_s=0.003 * 20_000 / args.records, timeout_s=1200, bootstrap=address)
    ok &= result.exactly_once
    print(f"3 instances under faults: {result.describe()}")
    print(f"longest time with nothing committed: {result.longest_stall_s():.1f} s; exactly once: {result.exactly_once}")
    joins = [GroupFault(0.15, "join", 1), GroupFault(0.3, "join", 2)]
    for protocol, config in PROTOCOLS.items():
        result = run_group_copiers(records=args.records, partitions=args.partitions, instances=1, plan=joins,
                                   copy_delay_s=0.0005, consumer_config=config, timeout_s=900, bootstrap=address)
        ok &= result.exactly_once
        print(f"{protocol}: 1 instance joined by 2, {args.records / result.elapsed_s:,.0f} records/s, longest time "
              f"with nothing committed {result.longest_stall_s():.1f} s; exactly once: {result.exactly_once}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
