"""``eoslab broker start | stop | status | restart [--hard] | logs | fetch``."""

from __future__ import annotations

import argparse

from ..broker import KAFKA_VERSION, EmbeddedBroker, fetch_libs
from ..kafka import ENV_VAR, broker_in_use, configured_bootstrap

EXAMPLES = """\
examples:
  eoslab broker start              # start (or reuse) the broker on 127.0.0.1:9092
  eoslab broker start --fresh      # wipe its data first
  eoslab broker restart --hard     # SIGKILL it and start again on the same data
  eoslab broker logs -n 100
  EOSLAB_BROKER_PORT=9192 eoslab broker start   # when 9092 is taken
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("broker", help="run the course's Apache Kafka broker",
                                   description=f"Run one Apache Kafka {KAFKA_VERSION} node (KRaft) on loopback.",
                                   epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--state-dir", help="data, logs and pid file (default: EOSLAB_STATE_DIR or ~/.local/state/eoslab/broker)")
    parser.add_argument("--port", type=int, help="client port (default: EOSLAB_BROKER_PORT or 9092)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    start = actions.add_parser("start", help="start the broker and wait until it runs transactions")
    start.add_argument("--fresh", action="store_true", help="wipe the broker's data first")
    start.set_defaults(handler=_start)
    actions.add_parser("stop", help="stop gracefully (SIGKILL after 30 s)").set_defaults(handler=_stop)
    actions.add_parser("status", help="running or not, address and state dir").set_defaults(handler=_status)
    restart = actions.add_parser("restart", help="stop and start on the same data")
    restart.add_argument("--hard", action="store_true", help="SIGKILL instead of a clean shutdown (a crash)")
    restart.set_defaults(handler=_restart)
    logs = actions.add_parser("logs", help="print the end of the broker log")
    logs.add_argument("-n", "--lines", type=int, default=40)
    logs.set_defaults(handler=_logs)
    actions.add_parser("fetch", help="download the broker jars into the cache (Binder, offline use)").set_defaults(
        handler=_fetch)


def _broker(args: argparse.Namespace) -> EmbeddedBroker:
    return EmbeddedBroker(state_dir=args.state_dir, port=args.port)


def _start(args: argparse.Namespace) -> int:
    broker = _broker(args)
    if not broker.start(fresh=args.fresh):
        print(f"The broker is already running (pid {broker.pid()}) on {broker.bootstrap}.")
    return 0


def _stop(args: argparse.Namespace) -> int:
    broker = _broker(args)
    print("Broker stopped." if broker.stop() else "The broker was not running.")
    return 0


def _status(args: argparse.Namespace) -> int:
    broker = _broker(args)
    status = broker.status()
    external = configured_bootstrap()
    ours = (broker.bootstrap, f"localhost:{broker.ports.client}")
    if external and external not in ours and args.port is None and args.state_dir is None and not status.running:
        # The course talks to a broker it did not start: say which, and whether it answers.
        in_use = broker_in_use()
        print(f"Broker in use: {in_use.describe()}.")
        if not in_use.brokers:
            print(f"  start it (`docker compose up -d kafka`), or fix {ENV_VAR}, or unset it to use the course's own")
        print(f"  the course's own broker ({broker.bootstrap}) is not started: not needed while {ENV_VAR} is set")
        return 0 if in_use.brokers else 3
    print(status.describe())
    return 0 if status.running else 3  # like `systemctl status`: scripts can test it


def _restart(args: argparse.Namespace) -> int:
    broker = _broker(args)
    broker.restart(hard=args.hard)
    return 0


def _logs(args: argparse.Namespace) -> int:
    broker = _broker(args)
    lines = broker.log_tail(args.lines)
    print("\n".join(lines) if lines else f"No broker log yet in {broker.log_dir}.")
    return 0


def _fetch(args: argparse.Namespace) -> int:
    print(f"Apache Kafka {KAFKA_VERSION} jars in {fetch_libs()}")
    return 0
