"""``eoslab reset NN-slug``: a fresh copy of an assignment; your work is kept as a backup."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "reset", help="restore a fresh copy of an assignment (yours is backed up first)",
        epilog="example:\n  eoslab reset 00-orientation   # yours goes to course/00-orientation/backups/",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("assignment", metavar="NN-slug")
    parser.set_defaults(handler=_reset)


def _reset(args: argparse.Namespace) -> int:
    from ..grading.generate import reset

    notebook, saved = reset(args.assignment)
    print(f"fresh copy: {notebook}")
    print(f"your previous version: {saved}" if saved else "there was no previous version to keep")
    print("If the notebook is open in JupyterLab, reload it from disk (File > Reload Notebook from Disk).")
    return 0
