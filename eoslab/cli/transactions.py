"""``eoslab transactions …``: Kafka's kafka-transactions tool against the course's broker."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "transactions", help="list and describe transactions (Kafka's kafka-transactions tool)",
        epilog=("examples:\n  eoslab transactions list --open-longer-than 5000\n"
                "  eoslab transactions describe payments-tx\n  eoslab transactions producers payments 0"),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="transactional ids, producer ids and states")
    listing.add_argument("--open-longer-than", type=int, metavar="MS",
                         help="only transactions open (Ongoing) for longer than MS milliseconds")
    listing.set_defaults(handler=_list)
    describe = actions.add_parser("describe", help="one transactional id: epoch, state, duration, partitions")
    describe.add_argument("transactional_id")
    describe.set_defaults(handler=_describe)
    producers = actions.add_parser("producers", help="the producers a partition remembers")
    producers.add_argument("topic")
    producers.add_argument("partition", type=int, nargs="?", default=0)
    producers.set_defaults(handler=_producers)
    hanging = actions.add_parser("hanging", help="open transactions their coordinator no longer knows")
    hanging.add_argument("topic")
    hanging.set_defaults(handler=_hanging)


def _list(args: argparse.Namespace) -> int:
    from ..observe import txntool

    open_only = args.open_longer_than is not None
    rows = txntool.list_transactions(longer_than_ms=args.open_longer_than, state="Ongoing" if open_only else None)
    print(txntool.format_table(rows, limit=50))
    return 0


def _describe(args: argparse.Namespace) -> int:
    from ..observe import txntool

    print(txntool.format_table([txntool.describe_transaction(args.transactional_id)]))
    return 0


def _producers(args: argparse.Namespace) -> int:
    from ..observe import txntool

    print(txntool.format_table(txntool.describe_producers(args.topic, args.partition)))
    return 0


def _hanging(args: argparse.Namespace) -> int:
    from ..observe import txntool

    print(txntool.format_table(txntool.find_hanging(args.topic)))
    return 0
