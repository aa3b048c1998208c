"""``eoslab instructor generate | validate``: build ``course/`` from ``solutions/`` and check it."""

from __future__ import annotations

import argparse

EXAMPLES = """\
examples:
  eoslab instructor generate                    # every assignment: solutions/NN-slug -> course/NN-slug
  eoslab instructor generate 00-orientation
  eoslab instructor generate --force 03-transactional-producer   # back up a changed copy, then overwrite
  eoslab instructor validate                    # solutions pass their tests; student versions leak nothing
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


def _generate(args: argparse.Namespace) -> int:
    from ..grading.generate import generate

    outcomes = generate(args.assignments, force=args.force)
    for outcome in outcomes:
        print(outcome.describe())
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
