"""``eoslab progress [--json]``: your latest grade per assignment, from your own grading runs.

Every ``eoslab grade`` (the command, the grade button, ``!eoslab grade``) records an attempt in the
progress file (eoslab.grading.progress); this prints, per assignment of the course map, whether it
is done (full marks in the latest attempt), its score, when it was last graded and its feedback page.
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "progress", help="your latest score per assignment (from your grading runs)",
        description="Per assignment: done / in progress / not graded yet, the latest score, when it was "
                    "graded and where its feedback page is. Grading with `eoslab grade` records each run.",
        epilog="examples:\n  eoslab progress\n  eoslab progress --json",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print the rows as JSON (for scripts)")
    parser.set_defaults(handler=_progress)


def _when(iso: str | None) -> str:
    if not iso:
        return "—"
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return iso


def _progress(args: argparse.Namespace) -> int:
    from ..grading.progress import progress_file, progress_rows

    rows = progress_rows()
    if args.json:
        print(json.dumps({"progress_file": str(progress_file()), "assignments": rows}, indent=1))
        return 0
    width = max([len(row["assignment"]) for row in rows] + [len("assignment")])
    print(f"{'assignment':<{width}}  {'status':<14}  {'score':>9}  {'last graded':<16}  feedback")
    for row in rows:
        score = "—" if row["score"] is None else f"{row['score']:g} / {row['max_score']:g}"
        feedback = f"course/{row['feedback']}" if row["feedback"] else "—"
        print(f"{row['assignment']:<{width}}  {row['status']:<14}  {score:>9}  {_when(row['graded_at']):<16}  {feedback}")
    done = sum(row["status"] == "done" for row in rows)
    print(f"\n{done} of {len(rows)} done · history in {progress_file()}")
    return 0
