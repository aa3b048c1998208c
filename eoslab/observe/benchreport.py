"""Benchmark results for people and machines: medians, spread, ratios, a table, JSON and a chart.

Guarantees: ratios are computed per round (a mode against the baseline measured in the same
round, under the same background load), then summarised by their median and range; throughput is
summarised the same way. The JSON carries the machine, the client versions and every setting that
decides the numbers, so a figure never travels without its conditions. Charts are drawn with
matplotlib's object API (no global state), so notebooks and scripts can both use them.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

import confluent_kafka

from ..broker import KAFKA_VERSION
from .throughput import (
    BASELINE,
    BATCHING,
    DELIVERY_MODES,
    LatencyRun,
    PipelineRun,
    ProduceRun,
)


def machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "confluent_kafka": confluent_kafka.__version__,
        "librdkafka": confluent_kafka.libversion()[0],
        "kafka_broker": KAFKA_VERSION,
        "broker": "one embedded KRaft node on loopback",
    }


def _summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "runs": len(values)}


def summarise_produce(runs: list[ProduceRun], total_rounds: int) -> list[dict[str, Any]]:
    """One row per (record size, mode): throughput and ratio-to-baseline summaries."""
    by_key: dict[tuple[int, str], list[ProduceRun]] = defaultdict(list)
    for run in runs:
        by_key[(run.record_size, run.mode)].append(run)
    order = [mode.name for mode in DELIVERY_MODES]
    rows = []
    for (size, mode), mode_runs in sorted(by_key.items(), key=lambda item: (item[0][0], order.index(item[0][1]))):
        baseline = by_key.get((size, BASELINE), [])
        ratios = [run.records_per_s / base.records_per_s for run, base in zip(mode_runs, baseline)]
        rows.append({
            "mode": mode,
            "record_size": size,
            "records": mode_runs[0].records,
            "records_per_s": _summary([run.records_per_s for run in mode_runs]),
            "megabytes_per_s": _summary([run.megabytes_per_s for run in mode_runs]),
            "ratio_to_baseline": _summary(ratios) if ratios else None,
        })
    return rows


def summarise_latency(runs: list[LatencyRun]) -> list[dict[str, Any]]:
    return [{"mode": run.mode, "records": run.records, "rate_per_s": run.rate_per_s,
             "p50_ms": run.percentile(0.50), "p99_ms": run.percentile(0.99), "max_ms": max(run.latencies_ms)}
            for run in runs]


def summarise_pipeline(runs: list[PipelineRun]) -> list[dict[str, Any]]:
    by_key: dict[tuple[int, str], list[PipelineRun]] = defaultdict(list)
    for run in runs:
        by_key[(run.commit_interval_ms, run.guarantee)].append(run)
    rows = []
    for (interval, guarantee), guarantee_runs in sorted(by_key.items()):
        baseline = by_key.get((interval, "at-least-once"), [])
        ratios = [run.records_per_s / base.records_per_s for run, base in zip(guarantee_runs, baseline)]
        rows.append({"guarantee": guarantee, "commit_interval_ms": interval, "records": guarantee_runs[0].records,
                     "records_per_s": _summary([run.records_per_s for run in guarantee_runs]),
                     "ratio_to_at_least_once": _summary(ratios)})
    return rows


def delivery_report(produce: list[ProduceRun], latency: list[LatencyRun], rounds: int,
                    partitions: int = 1) -> dict[str, Any]:
    return {
        "benchmark": "delivery_modes",
        "machine": machine(),
        "settings": {"batching": BATCHING, "rounds": rounds, "partitions": partitions, "baseline": BASELINE,
                     "modes": {mode.name: {"label": mode.label, "config": mode.config,
                                           "commit_interval_ms": mode.commit_interval_ms}
                               for mode in DELIVERY_MODES}},
        "produce": summarise_produce(produce, rounds),
        "latency": summarise_latency(latency),
    }


def pipeline_report(runs: list[PipelineRun], rounds: int) -> dict[str, Any]:
    return {"benchmark": "pipeline", "machine": machine(),
            "settings": {"batching": BATCHING, "rounds": rounds, "partitions": 1},
            "pipeline": summarise_pipeline(runs)}


# ---- text -------------------------------------------------------------------------------------------

def _ratio_text(summary: dict[str, float] | None) -> str:
    if not summary:
        return "-"
    return f"{summary['median']:.2f} ({summary['min']:.2f}–{summary['max']:.2f})"


def delivery_table(report: dict[str, Any]) -> str:
    lines = [f"{'size':>6}  {'mode':<24} {'records/s median (min–max)':>32}  {'MB/s':>7}  "
             f"ratio to {BASELINE} (min–max)"]
    for row in report["produce"]:
        rate = row["records_per_s"]
        lines.append(f"{row['record_size']:>5}B  {row['mode']:<24} "
                     f"{rate['median']:>12,.0f} ({rate['min']:>8,.0f}–{rate['max']:>8,.0f})  "
                     f"{row['megabytes_per_s']['median']:>7.1f}  {_ratio_text(row['ratio_to_baseline'])}")
    if report.get("latency"):
        lines.append("")
        lines.append(f"{'end-to-end latency, read_committed consumer':<48} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
        for row in report["latency"]:
            lines.append(f"{row['mode']:<24} at {row['rate_per_s']:>5} rec/s{'':>10} "
                         f"{row['p50_ms']:>8.1f} {row['p99_ms']:>8.1f} {row['max_ms']:>8.1f}")
    return "\n".join(lines)


def pipeline_table(report: dict[str, Any]) -> str:
    lines = [f"{'commit every':>12}  {'guarantee':<14} {'records/s median (min–max)':>32}  ratio to at-least-once"]
    for row in report["pipeline"]:
        rate = row["records_per_s"]
        lines.append(f"{row['commit_interval_ms']:>9} ms  {row['guarantee']:<14} "
                     f"{rate['median']:>12,.0f} ({rate['min']:>8,.0f}–{rate['max']:>8,.0f})  "
                     f"{_ratio_text(row['ratio_to_at_least_once'])}")
    return "\n".join(lines)


# ---- files ------------------------------------------------------------------------------------------

def write_json(report: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    return path


def plot_delivery(report: dict[str, Any], ax: Any = None) -> Any:
    """Bars: each mode's throughput ratio to the baseline per record size, whiskers min–max."""
    from matplotlib.figure import Figure

    figure = None
    if ax is None:
        figure = Figure(figsize=(9, 4.2), layout="constrained")
        ax = figure.add_subplot()
    sizes = sorted({row["record_size"] for row in report["produce"]})
    modes = [mode.name for mode in DELIVERY_MODES if any(row["mode"] == mode.name for row in report["produce"])]
    width = 0.8 / max(1, len(sizes))
    for size_index, size in enumerate(sizes):
        rows = {row["mode"]: row for row in report["produce"] if row["record_size"] == size}
        xs, heights, low, high = [], [], [], []
        for mode_index, mode in enumerate(modes):
            ratio = rows.get(mode, {}).get("ratio_to_baseline")
            if not ratio:
                continue
            xs.append(mode_index + (size_index - (len(sizes) - 1) / 2) * width)
            heights.append(ratio["median"])
            low.append(ratio["median"] - ratio["min"])
            high.append(ratio["max"] - ratio["median"])
        ax.bar(xs, heights, width, yerr=[low, high], capsize=3, label=f"{size} B records")
    ax.axhline(1.0, color="grey", linewidth=0.8, linestyle="--")
    ax.set_xticks(range(len(modes)), [m.replace("transactional-", "txn ") for m in modes], rotation=25, ha="right")
    ax.set_ylabel(f"throughput ÷ {BASELINE}")
    ax.set_title("Producer throughput by delivery mode (median of rounds, whiskers min–max)")
    ax.legend()
    return figure if figure is not None else ax.figure


def plot_pipeline(report: dict[str, Any], ax: Any = None) -> Any:
    from matplotlib.figure import Figure

    figure = None
    if ax is None:
        figure = Figure(figsize=(7, 4), layout="constrained")
        ax = figure.add_subplot()
    intervals = sorted({row["commit_interval_ms"] for row in report["pipeline"]})
    for offset, guarantee in ((-0.2, "at-least-once"), (0.2, "exactly-once")):
        rows = {row["commit_interval_ms"]: row for row in report["pipeline"] if row["guarantee"] == guarantee}
        medians = [rows[i]["records_per_s"]["median"] for i in intervals]
        errors = [[rows[i]["records_per_s"]["median"] - rows[i]["records_per_s"]["min"] for i in intervals],
                  [rows[i]["records_per_s"]["max"] - rows[i]["records_per_s"]["median"] for i in intervals]]
        ax.bar([index + offset for index in range(len(intervals))], medians, 0.4, yerr=errors, capsize=3,
               label=guarantee)
    ax.set_xticks(range(len(intervals)), [f"commit every {i} ms" for i in intervals])
    ax.set_ylabel("records/s")
    ax.set_title("Consume-transform-produce throughput")
    ax.legend()
    return figure if figure is not None else ax.figure


def save_chart(figure: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    return path


def publish(report: dict[str, Any], table: str, figure: Any, out: Path, stem: str) -> None:
    """What every benchmark script ends with: the table on stdout, then ``<stem>.json`` and ``<stem>.png``."""
    print()
    print(table)
    json_path = write_json(report, out / f"{stem}.json")
    png_path = save_chart(figure, out / f"{stem}.png")
    print(f"\nwrote {json_path} and {png_path} in {report['settings']['wall_time_s']} s")
