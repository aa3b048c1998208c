"""``eoslab instructor generate | validate``: build ``course/`` from ``solutions/`` and check it.

``generate`` also refreshes the map of assignments on the start page, ``course/START.ipynb``."""

from __future__ import annotations

import argparse

EXAMPLES = """\
examples:
  eoslab instructor generate                    # every assignment: solutions/NN-slug -> course/NN-slug
  eoslab instructor generate 00-orientation
  eoslab instructor generate --force 04-transactional-producer   # back up a changed copy, then overwrite
  eoslab instructor validate                    # solutions pass their tests; student versions leak nothing
  eoslab instructor mutants 00-orientation      # grade mutants of the solution: which survive the hidden tests?
  eoslab instructor mutants 01-delivery-semantics --exercise count_lost_and_duplicated --limit 5 --out m.json
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("instructor", help="generate the student notebooks in course/ and validate them",
                                   epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    generate = actions.add_parser("generate", help="regenerate course/NN-slug from solutions/NN-slug (outputs cleared)")
    generate.add_argument("assignments", nargs="*", metavar="NN-slug", help="default: every assignment")
    generate.add_argument("--force", action="store_true",
                          help="overwrite a student notebook that differs from the committed one (backed up first)")
    generate.set_defaults(handler=_generate)
    validate = actions.add_parser("validate", help="run nbgrader's validator on solutions (pass) and student versions (no leak)")
    validate.add_argument("assignments", nargs="*", metavar="NN-slug", help="default: every assignment")
    validate.set_defaults(handler=_validate)
    mutants = actions.add_parser(
        "mutants", help="autograde mutants of the reference solution and list those the hidden tests let through",
        description="Mutate each answer of solutions/NN-slug (a dropped config key, a swapped comparison, a removed "
                    "call …), add the wrong answers of tests/wrong_answers/NN-slug.json, autograde each against the "
                    "broker and report which keep full marks (survivors). Needs a broker: KAFKA_BOOTSTRAP_SERVERS "
                    "or `eoslab broker start`.")
    mutants.add_argument("assignment", metavar="NN-slug")
    mutants.add_argument("--exercise", action="append", metavar="GRADE_ID",
                         help="only this answer cell's mutants (repeatable; default: every exercise)")
    mutants.add_argument("--limit", type=int, metavar="N", help="at most N generated mutants per exercise "
                         "(taken in turn from each operator; the hand-written wrong answers always run)")
    mutants.add_argument("--jobs", type=int, default=1, metavar="N", help="parallel autograde runs (default 1)")
    mutants.add_argument("--cell-timeout", type=int, default=30, metavar="SECONDS", help="per cell (default 30)")
    mutants.add_argument("--deadline", type=float, default=60.0, metavar="MINUTES",
                         help="stop starting new runs after this long; the rest is reported 'not run' (default 60)")
    mutants.add_argument("--out", metavar="FILE.json", help="write every mutant's result (diff, points per cell) here")
    mutants.add_argument("--list", action="store_true", help="only list the mutants (ids, operators, lines); grade nothing")
    mutants.set_defaults(handler=_mutants)


def _generate(args: argparse.Namespace) -> int:
    from ..grading.coursemap import refresh_start_page
    from ..grading.generate import generate

    outcomes = generate(args.assignments, force=args.force)
    for outcome in outcomes:
        print(outcome.describe())
    if refresh_start_page():  # the map of assignments on the start page follows the notebooks' titles
        print("course/START.ipynb: the map of assignments updated")
    return 1 if any(outcome.action == "refused" for outcome in outcomes) else 0


def _validate(args: argparse.Namespace) -> int:
    from ..grading.validation import validate_assignment

    failed = 0
    for problems in (validate_assignment(name) for name in _names(args.assignments)):
        for line in problems.lines():
            print(line)
        failed += not problems.ok
    return 1 if failed else 0


def _names(names: list[str]) -> list[str]:
    from ..grading.course import assignments, check_assignment

    return [check_assignment(name) for name in names] if names else assignments()


def _mutants(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    from ..errors import EoslabError
    from ..grading.course import check_assignment
    from ..grading.mutants import assignment_mutants, load_equivalent, run_mutants, sample, summary_table

    check_assignment(args.assignment)
    if args.limit is not None and args.limit < 1:
        raise EoslabError(f"--limit {args.limit}: give 1 or more mutants per exercise, or leave it out for all")
    if args.cell_timeout < 1 or args.deadline <= 0:
        raise EoslabError("--cell-timeout and --deadline must be positive")
    chosen = sample(assignment_mutants(args.assignment, exercises=args.exercise), args.limit)
    if args.list:
        for mutant in chosen:
            print(f"{mutant.id}  line {mutant.line}: {mutant.description}")
        print(f"{len(chosen)} mutants")
        return 0
    from ..kafka import bootstrap

    address = os.environ["KAFKA_BOOTSTRAP_SERVERS"] = bootstrap(start=False)  # the kernels grade against this broker
    _warn_about_proxy_ports(address)
    run = run_mutants(args.assignment, mutants=chosen, jobs=args.jobs, cell_timeout_s=args.cell_timeout,
                      deadline_s=args.deadline * 60)
    print(summary_table(run, load_equivalent()))
    if args.out:
        print(f"results: {run.save(Path(args.out))}")
    return 0


def _warn_about_proxy_ports(address: str) -> None:
    """The fault proxy finds the course's broker by EOSLAB_BROKER_PORT: say so if it would miss this one."""
    import os
    import sys

    from ..broker.settings import default_broker_port

    host, _, port = address.split(",")[0].rpartition(":")
    if host in ("127.0.0.1", "localhost") and port.isdigit() and int(port) != default_broker_port():
        print(f"eoslab: warning: the broker is at {address} but EOSLAB_BROKER_PORT is {default_broker_port()}: "
              f"exercises that use the fault proxy will fail for every mutant (the solution's note says so); "
              f"run with EOSLAB_BROKER_PORT={port}", file=sys.stderr)
