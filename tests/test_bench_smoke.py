"""The benchmarks run end to end on a tiny N and write well-formed output (no timing assertions).

They are black-box checks: run the script as a learner would, then read what it printed and wrote.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from eoslab.observe.throughput import BASELINE, DELIVERY_MODES

pytestmark = pytest.mark.broker
REPO = Path(__file__).resolve().parent.parent


def _run(script: str, out: Path, *arguments: str) -> str:
    result = subprocess.run([sys.executable, str(REPO / "bench" / script), "--quick", "--out", str(out), *arguments],
                            capture_output=True, text=True, timeout=240, cwd=REPO, env=os.environ.copy())
    assert result.returncode == 0, f"{script} exited {result.returncode}: {result.stderr[-2000:]}"
    return result.stdout


def test_delivery_modes_benchmark_writes_table_json_and_chart(kafka_bootstrap: str, tmp_path: Path) -> None:
    stdout = _run("delivery_modes.py", tmp_path, "--records", "300", "--latency-records", "50")
    report = json.loads((tmp_path / "delivery_modes.json").read_text())
    assert {row["mode"] for row in report["produce"]} == {mode.name for mode in DELIVERY_MODES}
    for row in report["produce"]:
        assert row["records"] == 300 and row["records_per_s"]["median"] > 0
        assert row["records_per_s"]["min"] <= row["records_per_s"]["median"] <= row["records_per_s"]["max"]
        assert row["ratio_to_baseline"]["median"] > 0
    baseline = next(row for row in report["produce"] if row["mode"] == BASELINE)
    assert baseline["ratio_to_baseline"]["median"] == pytest.approx(1.0)
    assert {row["mode"] for row in report["latency"]} >= {"transactional-10ms", "transactional-100ms",
                                                           "transactional-1000ms"}
    assert all(0 <= row["p50_ms"] <= row["p99_ms"] <= row["max_ms"] for row in report["latency"])
    assert report["settings"]["batching"]["linger.ms"] >= 0 and report["machine"]["cpus"] >= 1
    assert (tmp_path / "delivery_modes.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for mode in DELIVERY_MODES:
        assert mode.name in stdout


def test_pipeline_benchmark_writes_table_json_and_chart(kafka_bootstrap: str, tmp_path: Path) -> None:
    stdout = _run("pipeline.py", tmp_path, "--records", "200", "--intervals", "10,100")
    report = json.loads((tmp_path / "pipeline.json").read_text())
    keys = {(row["guarantee"], row["commit_interval_ms"]) for row in report["pipeline"]}
    assert keys == {(g, i) for g in ("at-least-once", "exactly-once") for i in (10, 100)}
    assert all(row["records"] == 200 and row["records_per_s"]["median"] > 0 for row in report["pipeline"])
    assert (tmp_path / "pipeline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "exactly-once" in stdout and "at-least-once" in stdout
