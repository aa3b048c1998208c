"""``eoslab``: run the course's broker, and (more subcommands register here) grade and reset.

Errors the learner can fix are printed as one line, ``eoslab: error: …``, with exit code 1.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from ..errors import EoslabError
from . import broker as broker_command
from . import cluster as cluster_command
from . import grade as grade_command
from . import instructor as instructor_command
from . import progress as progress_command
from . import reset as reset_command
from . import transactions as transactions_command

# Each subcommand module offers register(subparsers) and sets `handler` on its parser.
SUBCOMMANDS = [broker_command, cluster_command, grade_command, instructor_command, progress_command, reset_command,
               transactions_command]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="eoslab",
        description="Exactly-once Kafka, hands-on: the course's broker and tools.",
        epilog="examples:\n  eoslab broker start\n  eoslab broker status\n  eoslab broker restart --hard",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in SUBCOMMANDS:
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        code = int(handler(args) or 0)
        sys.stdout.flush()  # a reader that went away (`| head -1`) shows here, not at interpreter exit
        return code
    except BrokenPipeError:
        # The reader has what it wanted: end quietly, with the exit status of a program SIGPIPE ended.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except EoslabError as error:
        print(f"eoslab: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("eoslab: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
