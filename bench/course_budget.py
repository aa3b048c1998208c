#!/usr/bin/env python3
"""The course's own budget: every solution notebook top to bottom, and the memory it takes.

Measures, on this machine:

- wall time of each solution notebook executed top to bottom against the real broker, and of
  the whole course;
- peak resident memory of broker + JupyterLab server + the notebook's kernel together while each
  notebook runs (Binder gives about 2 GB for all of it), sampled every 100 ms.

The broker is the course's embedded one on free ports and a temporary state dir (or the one
KAFKA_BOOTSTRAP_SERVERS names; then its memory is not counted). JupyterLab is started idle
beside it so its memory counts; notebooks are executed by nbclient in kernels of this Python.

Run:  .venv/bin/python bench/course_budget.py [--only 06-exactly-once-pipeline] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat
import psutil
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from eoslab.broker import EmbeddedBroker  # noqa: E402
from eoslab.grading.labserver import launch_lab  # noqa: E402
from eoslab.broker.netutil import free_port_block  # noqa: E402


class PeakMemory:
    """Samples the summed RSS of some processes (and their children) in a background thread."""

    def __init__(self, roots: list[psutil.Process], interval_s: float = 0.1) -> None:
        self.roots, self.interval_s = roots, interval_s
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _current(self) -> int:
        total, seen = 0, set()
        for root in self.roots:
            try:
                for process in [root, *root.children(recursive=True)]:
                    if process.pid not in seen:
                        seen.add(process.pid)
                        total += process.memory_info().rss
            except psutil.Error:
                continue
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_bytes = max(self.peak_bytes, self._current())
            self._stop.wait(self.interval_s)

    def __enter__(self) -> "PeakMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def run_notebook(path: Path) -> float:
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=180, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    started = time.monotonic()
    client.execute()
    return time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", help="assignment folder(s) to run (default: all)")
    parser.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "course_budget.json")
    args = parser.parse_args()

    notebooks = sorted((REPO / "solutions").glob("*/*.ipynb"))
    if args.only:
        notebooks = [path for path in notebooks if path.parent.name in args.only]
    broker = None
    env = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="eoslab-budget-") as scratch:
        if not env.get("KAFKA_BOOTSTRAP_SERVERS"):
            broker = EmbeddedBroker(state_dir=Path(scratch) / "broker", port=free_port_block())
            broker.start(quiet=True)
            env.update(KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap, EOSLAB_BROKER_PORT=str(broker.ports.client),
                       EOSLAB_STATE_DIR=str(broker.state_dir))
            os.environ.update(env)  # nbclient kernels inherit it
        lab = launch_lab(REPO / "course", Path(scratch) / "jupyter", env=env)
        roots = [psutil.Process(lab.process.pid), psutil.Process()]
        if broker:
            roots.append(psutil.Process(broker.pid()))
        rows = []
        try:
            for path in notebooks:
                with PeakMemory(roots) as memory:
                    seconds = run_notebook(path)
                rows.append({"notebook": path.parent.name, "seconds": round(seconds, 1),
                             "peak_rss_mb": round(memory.peak_bytes / 2**20)})
                print(f"{path.parent.name:32} {seconds:6.1f} s   peak RSS {memory.peak_bytes / 2**20:6.0f} MB", flush=True)
        finally:
            lab.stop()
            if broker:
                broker.stop()
    total = sum(row["seconds"] for row in rows)
    peak = max((row["peak_rss_mb"] for row in rows), default=0)
    print(f"{'whole course':32} {total:6.1f} s   peak RSS {peak:6.0f} MB (broker + JupyterLab + kernel"
          f"{'' if broker else ', broker not counted'})")
    result = {"machine": {"cpus": os.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30)},
              "broker_counted": broker is not None, "notebooks": rows,
              "total_seconds": round(total, 1), "peak_rss_mb": peak}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
