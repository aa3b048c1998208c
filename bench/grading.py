"""How long grading one notebook takes from the grade button (issue 16: ≤ 8 s for 00, ≤ 20 s for 06).

Usage (from the repository root, in the course's environment, with a broker running)::

    python bench/grading.py                        # 00 and 06, the solution and the blank notebook, 1 run each
    python bench/grading.py --runs 3 --assignments 00-orientation
    python bench/grading.py --cells                # where the time goes: per cell, in one process

Each run is exactly what the button does: ``GradeButton(NN).command()`` (``python -m eoslab grade NN
<notebook>``) in a child process, timed from start to exit; the notebook is a copy of the solution
(every cell runs to the end: the slow case) or of the committed blank student notebook (most
exercises stop at "not done yet"). The grade's own progress file is a temporary one, so a learner's
history is untouched; the feedback page is written as usual (``course/NN-slug/feedback/``, git-ignored).

``--cells`` grades each notebook once more in this process (a scratch workspace, nbgrader's own
autograde) and prints the seconds from each cell's start to the next one's: demo cells skipped
(``demo``, eoslab/grading/demos.py) show as 0, so what is left is the hidden tests, the exercises'
own checks and the kernel's start.

Assumptions: the broker named by ``KAFKA_BOOTSTRAP_SERVERS`` (or the embedded one) is up; the machine
may be shared, so the 1-minute load average is printed beside the figures, and the table shows
median, min and max. Writes bench/results/grading.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from eoslab.grading import workspace as grading_workspace
from eoslab.grading.demos import DEMO_STUB
from eoslab.grading.widget import GradeButton

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
TARGETS_S = {"00-orientation": 8.0, "06-exactly-once-pipeline": 20.0}
DEADLINE_S = 900.0


def one_run(assignment: str, notebook: Path, progress: Path) -> tuple[float, int, str]:
    env = {**os.environ, "EOSLAB_PROGRESS_FILE": str(progress)}
    started = time.monotonic()
    done = subprocess.run(GradeButton(assignment, notebook).command(), capture_output=True, text=True,
                          timeout=DEADLINE_S, env=env, cwd=REPO)
    elapsed = time.monotonic() - started
    total = next((line for line in done.stdout.splitlines() if line.startswith("total")), done.stderr.strip()[-200:])
    return elapsed, done.returncode, " ".join(total.split())


def cell_breakdown(assignment: str, notebook: Path, scratch: Path) -> list[str]:
    """Grade ``notebook`` in this process; one line per code cell with its seconds, then the phases."""
    marks: list[tuple[float, int | None, object]] = []

    def cell_started(cell: object = None, cell_index: int | None = None, **_: object) -> None:
        grading_workspace._cell_started(cell=cell, cell_index=cell_index)
        marks.append((time.monotonic(), cell_index, cell))

    started = time.monotonic()
    workspace = grading_workspace.GradingWorkspace(assignment, directory=scratch / f"cells-{assignment}", root=REPO,
                                                  reuse=True)
    workspace.generate()
    generated = time.monotonic()
    workspace.config.Execute.on_cell_start = cell_started
    report = workspace.grade(notebook, instructor_feedback=False)
    ended = time.monotonic()
    lines = []
    for number, (when, index, cell) in enumerate(marks):
        if getattr(cell, "cell_type", "") != "code":
            continue
        until = marks[number + 1][0] if number + 1 < len(marks) else ended
        meta = cell.metadata  # type: ignore[attr-defined]
        label = meta.get("nbgrader", {}).get("grade_id") or cell.get("id") or ""  # type: ignore[attr-defined]
        kind = ("skipped demo" if cell.source == DEMO_STUB  # type: ignore[attr-defined]
                else "graded" if meta.get("nbgrader", {}).get("grade") else
                "answer" if meta.get("nbgrader", {}).get("solution") else "")
        lines.append(f"  [{index:2}] {until - when:6.2f} s  {label:<40} {kind}")
    first = marks[0][0] if marks else ended
    lines.append(f"  generate {generated - started:.1f} s (once per source change); nbgrader and kernel start "
                 f"{first - generated:.1f} s; cells {ended - first:.1f} s; {report.total:g} / {report.max_total:g}; "
                 f"{len(report.demos_skipped)} demo cells skipped; load {os.getloadavg()[0]:.1f}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--assignments", nargs="+", default=list(TARGETS_S))
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--cells", action="store_true", help="print where the time goes, per cell, instead")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="eoslab-bench-grading-") as scratch:
        for assignment in args.assignments:
            for kind, source in (("solution", REPO / "solutions" / assignment / f"{assignment}.ipynb"),
                                 ("blank", REPO / "course" / assignment / f"{assignment}.ipynb")):
                notebook = Path(scratch) / f"{kind}-{assignment}.ipynb"
                shutil.copyfile(source, notebook)
                if args.cells:
                    print(f"{assignment} ({kind}), seconds per cell:", flush=True)
                    print("\n".join(cell_breakdown(assignment, notebook, Path(scratch))), flush=True)
                    continue
                times, outcome, loads = [], "", []
                for _ in range(args.runs):
                    loads.append(os.getloadavg()[0])
                    elapsed, code, outcome = one_run(assignment, notebook, Path(scratch) / "progress.json")
                    if code != 0:
                        print(f"{assignment} ({kind}): grading failed (exit {code}): {outcome}")
                        return 1
                    times.append(elapsed)
                row = {"assignment": assignment, "notebook": kind, "runs": args.runs,
                       "seconds": {"median": statistics.median(times), "min": min(times), "max": max(times)},
                       "target_s": TARGETS_S.get(assignment), "load_average_1min": statistics.median(loads),
                       "score": outcome}
                rows.append(row)
                seconds = row["seconds"]
                print(f"{assignment:<26} {kind:<8} median {seconds['median']:6.1f} s  (min {seconds['min']:.1f}, "
                      f"max {seconds['max']:.1f}; target {row['target_s'] or '—'} s; load {row['load_average_1min']:.1f}; "
                      f"{outcome})", flush=True)
    if args.cells:
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "grading.json").write_text(json.dumps({"cpus": os.cpu_count(), "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
