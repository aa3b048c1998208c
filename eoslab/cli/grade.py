"""``eoslab grade NN-slug [notebook.ipynb]``: grade your saved notebook yourself, with the hidden tests.

Output: one line saying what is graded, the score table with the reasons, and where the feedback
page is (relative to the current directory). Nothing else: nbgrader's and the kernel's warnings are
silenced in :mod:`eoslab.grading.workspace`. A broken notebook file, a stopped broker or a kernel
that dies is one ``eoslab: error: …`` line and exit code 1 (see eoslab.grading.selfgrade). The
broker is checked first (:func:`check_broker`, within :data:`BROKER_CHECK_S`): grading runs the
notebook against it, so without one every exercise would fail after a minute of timeouts.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from pathlib import Path

BROKER_CHECK_S = 5.0

EXAMPLES = """\
examples:
  eoslab grade 00-orientation                       # grades course/00-orientation/00-orientation.ipynb
  eoslab grade 04-transactional-producer my-copy.ipynb
  !eoslab grade 00-orientation                      # from a notebook cell (save the notebook first)
  eoslab progress                                   # your latest score per assignment
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "grade", help="grade your notebook with the hidden tests (your file is not changed)",
        description="Run a copy of your saved notebook with the hidden tests (nbgrader autograde) and print "
                    "a score per exercise, why points were lost, and where the feedback page is "
                    "(course/NN-slug/feedback/NN-slug.html). Each run is recorded for `eoslab progress`.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("assignment", metavar="NN-slug", help="the assignment, e.g. 00-orientation")
    parser.add_argument("notebook", nargs="?", help="your notebook (default: course/NN-slug/NN-slug.ipynb)")
    parser.add_argument("--cell-timeout", type=int, metavar="SECONDS",
                        help="stop a cell after this long (default: nbgrader_config.py, 120 s)")
    parser.set_defaults(handler=_grade)


def check_broker(timeout_s: float = BROKER_CHECK_S) -> str:
    """The broker's address if one answers within ``timeout_s``; else one line saying what to start."""
    from ..broker import EmbeddedBroker
    from ..broker.readiness import answers_metadata
    from ..errors import EoslabError
    from ..kafka.connect import ENV_VAR, configured_bootstrap

    configured = configured_bootstrap()
    address = configured or EmbeddedBroker().bootstrap
    if not _all_refuse(address) and answers_metadata(address, timeout_s):
        return address
    how = (f"start it (`docker compose up -d kafka`, or your class's broker) or fix {ENV_VAR}" if configured
           else "start it with `eoslab broker start`")
    source = f" ({ENV_VAR})" if configured else ""
    raise EoslabError(f"no Kafka broker answers at {address}{source} within {timeout_s:g} s, and grading runs "
                      f"your notebook against it; {how}, then grade again")


def _all_refuse(address: str) -> bool:
    """True when every host:port of ``address`` refuses a TCP connection at once (nothing listens)."""
    for server in address.split(","):
        host, _, port = server.strip().rpartition(":")
        host = host.split("://")[-1].strip("[]")
        try:
            with socket.create_connection((host, int(port)), timeout=1.0):
                return False
        except ConnectionRefusedError:
            continue
        except (OSError, ValueError):
            return False  # a name that does not resolve, a timeout…: let the metadata check decide
    return True


#: Optional modules left out of a grading process: jsonschema (imported by nbformat) loads
#: rfc3987_syntax for its "iri" format checker, which builds a Lark grammar on import (~0.9 s of
#: every grading run, a third of its start-up); no schema grading validates uses that format.
SKIPPED_IMPORTS = ("rfc3987_syntax",)


def _grade(args: argparse.Namespace) -> int:
    for module in SKIPPED_IMPORTS:
        sys.modules.setdefault(module, None)  # type: ignore[assignment]  # None: `import` raises ImportError
    from ..grading.selfgrade import grade_notebook, learner_notebook

    learner_notebook(args.assignment, args.notebook)  # a missing or broken file is named first
    check_broker()
    label = args.notebook or f"course/{args.assignment}/{args.assignment}.ipynb"
    print(f"Grading {label} (the saved version) with the hidden tests…", flush=True)
    report = grade_notebook(args.assignment, args.notebook, cell_timeout_s=args.cell_timeout)
    print()
    print(report.table())
    if report.feedback:
        print(f"\nfeedback: {display_path(report.feedback)}")
    return 0


def display_path(path: Path) -> str:
    """``path`` relative to the current directory when that is short, else absolute."""
    relative = os.path.relpath(path)
    return relative if not relative.startswith("../..") else str(path)
