"""SIGKILL one combined Kafka node right after a transaction commits: how often is the commit split?

Usage (from the repository root, in the course's environment)::

    python bench/hard_restart_split.py            # 8 runs, about 6 minutes
    python bench/hard_restart_split.py --runs 3

Each run copies 400 records with the course's exactly-once copier (transactions of 5), SIGKILLs the
broker the moment the copier reports its third commit, starts it again on the same data, lets the
copier finish, and reads the output read_committed. What Kafka 4.4.0 did here: when the kill lands
while the commit markers are still being written, the restarted node keeps serving on its old
registration until the controller fences that one (broker.session.timeout.ms, 9 s); the
transaction coordinator, finding the partitions without a leader at that moment, logs "these
partitions are likely deleted already and hence can be skipped", writes CompleteCommit and never
writes the markers. The records of that transaction stay open; the producer's next transaction
continues the same span, so they end as its outcome says: aborted with it (the copier, told "committed",
counts them twice; the output is still right), or — when the marker had reached one partition and not
the other before the kill — output and offsets disagree: duplicated or lost records.

Needs its own broker (it restarts it): starts one on free ports in a temporary directory and stops it
afterwards. Bounded: every run has deadlines; the whole script stops after --runs runs.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from eoslab.broker import EmbeddedBroker
from eoslab.broker.netutil import free_port_block
from eoslab.kafka.clients import create_topics, delete_topics, make_producer, unique_name
from eoslab.lessons.verifier import read_ids, record_value, verify
from eoslab.workers import WorkerExited, start_pipeline

RECORDS = 400
SKIPPED_MARKERS = "likely deleted already and hence can be skipped"


def one_run(broker: EmbeddedBroker) -> dict[str, object]:
    input_topic, output_topic = create_topics([unique_name("input"), unique_name("output")],
                                              bootstrap_servers=broker.bootstrap)
    producer = make_producer({"enable.idempotence": True}, bootstrap_servers=broker.bootstrap)
    for record in range(RECORDS):
        producer.produce(input_topic, record_value(record))
    if producer.flush(20):
        raise RuntimeError("the input was not written within 20 s")
    copier = start_pipeline(input_topic, output_topic, unique_name("copier"), unique_name("copier-tx"),
                            records_per_transaction=5, process_delay_s=0.01, idle_exit_s=60, max_lifetime_s=200,
                            bootstrap=broker.bootstrap)
    committed_before = 0
    try:
        copier.wait_for(lambda s: s.transactions_committed >= 3, 60, "three committed transactions")
        broker.restart(hard=True, quiet=True)  # at once: the third commit's markers may be under way
        for _replacement in range(3):
            try:
                copier.wait_for(lambda s: committed_before + s.committed >= RECORDS, 150, "every record committed")
                break
            except WorkerExited:
                committed_before += copier.status.committed
                copier = copier.restart()
        counted = committed_before + copier.status.committed
        report = verify(list(range(RECORDS)), read_ids(output_topic, "read_committed", timeout_s=30,
                                                       bootstrap_servers=broker.bootstrap))
    finally:
        copier.close()
    delete_topics([input_topic, output_topic], bootstrap_servers=broker.bootstrap)
    return {"report": report, "counted_committed": counted}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=8, help="how many kills (default 8)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="eoslab-split-") as state:
        broker = EmbeddedBroker(state_dir=Path(state), port=free_port_block())
        broker.start(quiet=True)
        started = time.monotonic()
        split = miscounted = 0
        try:
            for number in range(1, args.runs + 1):
                skipped_before = broker.server_log.read_text(errors="replace").count(SKIPPED_MARKERS)
                outcome = one_run(broker)
                report = outcome["report"]
                skipped = broker.server_log.read_text(errors="replace").count(SKIPPED_MARKERS) - skipped_before
                damaged = bool(report.problems())
                told_twice = outcome["counted_committed"] > RECORDS
                split += damaged
                miscounted += told_twice and not damaged
                print(f"run {number}: {report.summary()}; the copier was told 'committed' for "
                      f"{outcome['counted_committed']} records; markers skipped by the coordinator: {skipped}",
                      flush=True)
        finally:
            broker.stop()
    print(f"\n{args.runs} kills right after a commit in {time.monotonic() - started:.0f} s: output damaged in {split}, "
          f"a 'committed' transaction silently aborted (output still right) in {miscounted}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
