"""``eoslab grade NN-slug [notebook.ipynb]``: grade your saved notebook yourself, with the hidden tests."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

EXAMPLES = """\
examples:
  eoslab grade 00-orientation                       # grades course/00-orientation/00-orientation.ipynb
  eoslab grade 03-transactional-producer my-copy.ipynb
  !eoslab grade 00-orientation                      # from a notebook cell (save the notebook first)
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "grade", help="grade your notebook with the hidden tests (your file is not changed)",
        description="Run a copy of your saved notebook with the hidden tests (nbgrader autograde) and print "
                    "a score per exercise, why points were lost, and where the HTML feedback is.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("assignment", metavar="NN-slug", help="the assignment, e.g. 00-orientation")
    parser.add_argument("notebook", nargs="?", help="your notebook (default: course/NN-slug/NN-slug.ipynb)")
    parser.add_argument("--cell-timeout", type=int, metavar="SECONDS",
                        help="stop a cell after this long (default: nbgrader_config.py, 120 s)")
    parser.set_defaults(handler=_grade)


def _grade(args: argparse.Namespace) -> int:
    from ..grading.course import check_assignment
    from ..grading.selfgrade import grade_notebook

    check_assignment(args.assignment)
    started = time.monotonic()
    label = args.notebook or f"course/{args.assignment}/{args.assignment}.ipynb"
    print(f"Grading {label} (the saved version) with the hidden tests…", flush=True)
    report = grade_notebook(args.assignment, args.notebook, cell_timeout_s=args.cell_timeout)
    print()
    print(report.table())
    print(f"\ngraded in {time.monotonic() - started:.0f} s")
    if report.feedback:
        print(f"feedback: {_display_path(report.feedback)}")
    return 0


def _display_path(path: Path) -> str:
    relative = os.path.relpath(path)
    return relative if not relative.startswith("../..") else str(path)
