"""The three-node cluster: start to ready, memory with JupyterLab and a kernel, and what replication costs.

Usage (from the repository root, in the course's environment)::

    python bench/cluster.py                   # 3 start runs, 3 throughput rounds, Lab + kernel
    python bench/cluster.py --runs 1 --rounds 1 --records 50000 --no-lab
    python bench/cluster.py --quick           # a check that everything works (tiny N)

Measures, on a private cluster (free loopback ports, a temporary state dir):

- **start to ready**: ``Cluster.start()`` until a transaction commits on an RF=3 topic, on fresh
  data dirs and again on existing data (after a graceful stop);
- **memory**: each node's JVM peak RSS (sampled every 50 ms, and the kernel's VmHWM), the relay's,
  and the total with a JupyterLab server and a kernel that imports ``eoslab`` and produces and
  consumes through the cluster (peak of the sum, sampled);
- **throughput on an RF=3 topic** (``min.insync.replicas=2``), with the delivery modes of
  ``eoslab/observe/throughput.py`` (same batching as bench/delivery_modes.py): ``acks=1`` against
  ``acks=all``, and transactions committed every 100 ms against at-least-once in order, each
  mode's ratio taken within one round.

Assumptions: the machine may be shared (the load average is printed with the figures); the
replication traffic crosses the cluster's relay (eoslab/broker/relay.py), which is part of what is
measured. Prints tables; writes bench/results/cluster.json.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from broker_startup import kernel_high_water_mark  # noqa: E402  (bench/ is sys.path[0] for a script)
from eoslab.broker import Cluster  # noqa: E402
from eoslab.broker.netutil import free_port_block  # noqa: E402
from eoslab.broker.properties import CLUSTER_JVM_HEAP  # noqa: E402
from eoslab.broker.settings import ClusterPorts  # noqa: E402
from eoslab.observe import benchreport, throughput  # noqa: E402

RESULTS = REPO / "bench" / "results"
MB = 2**20
SAMPLE_S = 0.05
MODES = ["at-most-once", throughput.BASELINE, "at-least-once", "idempotent", "transactional-100ms"]
KERNEL_CODE = """
import eoslab
from eoslab.kafka import make_producer, make_consumer, create_topics, unique_name
bootstrap = eoslab.cluster()
topic = create_topics([unique_name("bench-kernel")], replication_factor=3, config={"min.insync.replicas": "2"},
                      bootstrap_servers=bootstrap)[0]
producer = make_producer({"transactional.id": unique_name("bench-kernel"), "enable.idempotence": True},
                         bootstrap_servers=bootstrap)
producer.init_transactions(30)
for batch in range(20):
    producer.begin_transaction()
    for n in range(1000):
        producer.produce(topic, value=b"x" * 100)
    producer.commit_transaction(30)
consumer = make_consumer({"group.id": unique_name("bench-kernel"), "isolation.level": "read_committed",
                          "auto.offset.reset": "earliest"}, bootstrap_servers=bootstrap)
consumer.subscribe([topic])
seen = 0
import time
deadline = time.monotonic() + 60
while seen < 20000 and time.monotonic() < deadline:
    seen += len(consumer.consume(1000, 1.0))
consumer.close()
print("kernel read", seen)
"""


class Sampler:
    """Peak RSS of each named process group, and of their sum, sampled in a thread."""

    def __init__(self, groups: dict[str, Any]) -> None:
        self.groups = groups  # name -> callable returning a list of pids
        self.peak: dict[str, int] = {name: 0 for name in groups}
        self.peak_total = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _rss(self, pids: list[int]) -> int:
        total = 0
        for pid in pids:
            try:
                process = psutil.Process(pid)
                total += process.memory_info().rss + sum(c.memory_info().rss for c in process.children(recursive=True))
            except psutil.Error:
                continue
        return total

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_S):
            total = 0
            for name, pids in self.groups.items():
                value = self._rss([pid for pid in pids() if pid])
                self.peak[name] = max(self.peak[name], value)
                total += value
            self.peak_total = max(self.peak_total, total)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def node_groups(cluster: Cluster) -> dict[str, Any]:
    groups: dict[str, Any] = {f"node {node.node_id}": (lambda node=node: [node.pid()]) for node in cluster.nodes}
    groups["relay"] = lambda: [cluster.relay_pid()]
    return groups


def vm_hwm(pid: int | None) -> int:
    """The kernel's peak RSS of ``pid`` in bytes (bench/broker_startup.py reads it), 0 if unknown."""
    return kernel_high_water_mark(pid) or 0


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def nodes_cpu(cluster: Cluster) -> float:
    """CPU (user + system) the nodes' JVMs and the relay have used so far: unlike wall time, it
    hardly depends on what else the machine runs."""
    total = 0.0
    for pid in [node.pid() for node in cluster.nodes] + [cluster.relay_pid()]:
        try:
            times = psutil.Process(pid).cpu_times()
            total += times.user + times.system
        except (psutil.Error, TypeError, ValueError):
            pass
    return total


def start_runs(runs: int) -> list[dict[str, Any]]:
    results = []
    for number in range(1, runs + 1):
        with tempfile.TemporaryDirectory(prefix="eoslab-bench-cluster-") as state_dir:
            cluster = Cluster(state_dir=state_dir, base_port=free_port_block(ClusterPorts(1024).size))
            try:
                with Sampler(node_groups(cluster)) as sampler:
                    before = children_cpu()
                    started = time.monotonic()
                    cluster.start()
                    fresh = time.monotonic() - started
                    fresh_cpu = nodes_cpu(cluster) + children_cpu() - before
                stop_started = time.monotonic()
                cluster.stop()
                stop = time.monotonic() - stop_started
                before = children_cpu()
                started = time.monotonic()
                cluster.start()
                existing = time.monotonic() - started
                existing_cpu = nodes_cpu(cluster) + children_cpu() - before
                hwm = {node.node_id: vm_hwm(node.pid()) for node in cluster.nodes}
            finally:
                cluster.stop()
        row = {"run": number, "fresh_ready_s": round(fresh, 2), "existing_ready_s": round(existing, 2),
               "graceful_stop_s": round(stop, 2),
               "fresh_cpu_to_ready_s": round(fresh_cpu, 2), "existing_cpu_to_ready_s": round(existing_cpu, 2),
               "start_peak_rss_mb": {name: round(value / MB) for name, value in sampler.peak.items()},
               "existing_start_vmhwm_mb": {node: round(value / MB) for node, value in hwm.items()},
               "load_average_1min": round(os.getloadavg()[0], 2)}
        print(f"start run {number}: fresh {row['fresh_ready_s']} s ({row['fresh_cpu_to_ready_s']} s CPU), existing "
              f"{row['existing_ready_s']} s ({row['existing_cpu_to_ready_s']} s CPU), "
              f"stop {row['graceful_stop_s']} s (load {row['load_average_1min']})", flush=True)
        results.append(row)
    return results


def run_kernel_workload(env: dict[str, str]) -> tuple[Any, Any]:
    from jupyter_client.manager import start_new_kernel

    saved = dict(os.environ)
    os.environ.update(env)
    try:
        manager, client = start_new_kernel(kernel_name="python3")
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return manager, client


def memory_with_lab(cluster: Cluster, scratch: Path, with_lab: bool) -> dict[str, Any]:
    """Peak RSS of the nodes, the relay, JupyterLab and a kernel running KERNEL_CODE on the cluster."""
    env = {"EOSLAB_CLUSTER_STATE_DIR": str(cluster.state_dir), "EOSLAB_CLUSTER_PORT": str(cluster.ports.base)}
    lab = manager = client = None
    groups = node_groups(cluster)
    if with_lab:
        from eoslab.grading.labserver import launch_lab

        lab = launch_lab(REPO / "course", scratch / "jupyter", env=env)
        groups["JupyterLab"] = lambda: [lab.process.pid]
    try:
        manager, client = run_kernel_workload(env)
        kernel_pid = manager.provisioner.process.pid if manager.provisioner else None
        groups["kernel"] = lambda: [kernel_pid]
        with Sampler(groups) as sampler:
            reply = client.execute_interactive(KERNEL_CODE, timeout=180)
        assert reply["content"]["status"] == "ok", reply["content"]
    finally:
        if client is not None:
            client.stop_channels()
        if manager is not None:
            manager.shutdown_kernel(now=True)
        if lab is not None:
            lab.stop()
    nodes = sum(sampler.peak[f"node {node.node_id}"] for node in cluster.nodes)
    result = {"peak_rss_mb": {name: round(value / MB) for name, value in sampler.peak.items()},
              "nodes_sum_of_peaks_mb": round(nodes / MB),
              "peak_total_mb": round(sampler.peak_total / MB),
              "kernel_vmhwm_mb": None,
              "node_vmhwm_mb": {node.node_id: round(vm_hwm(node.pid()) / MB) for node in cluster.nodes}}
    print("memory (peak RSS, MB): " + ", ".join(f"{name} {value}" for name, value in result["peak_rss_mb"].items())
          + f"; peak of the sum {result['peak_total_mb']}", flush=True)
    return result


def throughput_rounds(cluster: Cluster, records: int, rounds: int) -> dict[str, Any]:
    os.environ["KAFKA_BOOTSTRAP_SERVERS"] = cluster.bootstrap
    try:
        runs = throughput.produce_rounds([throughput.mode_named(name) for name in MODES], records, [100], rounds,
                                         progress=lambda line: print(line, flush=True), replication_factor=3,
                                         topic_config={"min.insync.replicas": "2"})
    finally:
        os.environ.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    summary = benchreport.summarise_produce(runs, rounds)

    def ratio(numerator: str, denominator: str) -> dict[str, float]:
        values = []
        for index in range(rounds):
            top = [run for run in runs if run.mode == numerator][index]
            bottom = [run for run in runs if run.mode == denominator][index]
            values.append(top.records_per_s / bottom.records_per_s)
        return {"median": round(statistics.median(values), 2), "min": round(min(values), 2),
                "max": round(max(values), 2)}

    return {"records": records, "record_size": 100, "rounds": rounds, "modes": summary,
            "acks_1_over_acks_all_in_order": ratio("at-most-once", throughput.BASELINE),
            "acks_1_over_acks_all": ratio("at-most-once", "at-least-once"),
            "transactional_100ms_over_at_least_once_in_order": ratio("transactional-100ms", throughput.BASELINE)}


def summary_of(rows: list[dict[str, Any]], key: str) -> dict[str, float]:
    values = [row[key] for row in rows]
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "runs": len(values)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="start runs, each on new data dirs (default 3)")
    parser.add_argument("--rounds", type=int, default=3, help="throughput rounds (default 3)")
    parser.add_argument("--records", type=int, default=200_000, help="records per throughput run (default 200,000)")
    parser.add_argument("--no-lab", action="store_true", help="measure memory without a JupyterLab server")
    parser.add_argument("--quick", action="store_true", help="1 run, 1 round, 2,000 records, no Lab")
    parser.add_argument("--out", type=Path, default=RESULTS / "cluster.json", help="where the JSON goes")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.rounds, args.records, args.no_lab = 1, 1, 2000, True
    started = time.monotonic()
    report: dict[str, Any] = {"benchmark": "cluster", "machine": benchreport.machine(),
                              "settings": {"runs": args.runs, "rounds": args.rounds, "records": args.records,
                                           "node_heap": CLUSTER_JVM_HEAP, "modes": MODES}}
    starts = start_runs(args.runs)
    report["starts"] = {"runs": starts, "fresh_ready_s": summary_of(starts, "fresh_ready_s"),
                        "existing_ready_s": summary_of(starts, "existing_ready_s"),
                        "graceful_stop_s": summary_of(starts, "graceful_stop_s"),
                        "fresh_cpu_to_ready_s": summary_of(starts, "fresh_cpu_to_ready_s"),
                        "existing_cpu_to_ready_s": summary_of(starts, "existing_cpu_to_ready_s")}
    with tempfile.TemporaryDirectory(prefix="eoslab-bench-cluster-") as scratch:
        cluster = Cluster(state_dir=Path(scratch) / "cluster", base_port=free_port_block(ClusterPorts(1024).size))
        cluster.start()
        try:
            report["memory"] = memory_with_lab(cluster, Path(scratch), with_lab=not args.no_lab)
            report["throughput"] = throughput_rounds(cluster, args.records, args.rounds)
        finally:
            cluster.stop()
    report["settings"]["wall_time_s"] = round(time.monotonic() - started, 1)
    print()
    for key in ("fresh_ready_s", "existing_ready_s", "graceful_stop_s", "fresh_cpu_to_ready_s",
                "existing_cpu_to_ready_s"):
        row = report["starts"][key]
        print(f"cluster {key:<24} median {row['median']:6.2f}  min {row['min']:6.2f}  max {row['max']:6.2f}")
    memory = report["memory"]
    print(f"peak RSS (MB): {memory['peak_rss_mb']}; nodes, sum of peaks {memory['nodes_sum_of_peaks_mb']}; "
          f"everything, peak of the sum {memory['peak_total_mb']}")
    print(benchreport.delivery_table({"produce": report["throughput"]["modes"], "latency": []}))
    for key in ("acks_1_over_acks_all_in_order", "acks_1_over_acks_all", "transactional_100ms_over_at_least_once_in_order"):
        value = report["throughput"][key]
        print(f"{key:<50} {value['median']:.2f} ({value['min']:.2f}-{value['max']:.2f})")
    path = benchreport.write_json(report, args.out)
    print(f"\nwrote {path} in {report['settings']['wall_time_s']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
