"""``eoslab cluster start [--nodes 3] [--fresh] | stop | status [--json] | kill N | restart N | pause N |
resume N | isolate N --seconds S | heal [N] | logs N``."""

from __future__ import annotations

import argparse

from ..broker import KAFKA_VERSION, Cluster
from ..broker.relay import MAX_CUT_S

EXAMPLES = """\
examples:
  eoslab cluster start                 # three nodes on 127.0.0.1:9292,9302,9312
  eoslab cluster status --json
  eoslab cluster kill 2                # SIGKILL node 2 (its data is kept)
  eoslab cluster restart 2             # start it again on its data
  eoslab cluster pause 3; eoslab cluster resume 3
  eoslab cluster isolate 1 --seconds 20   # cut node 1 off from the others, both ways
  eoslab cluster logs 2 -n 100
  EOSLAB_CLUSTER_PORT=9392 eoslab cluster start   # when 9292-9333 is taken
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("cluster", help="run a three-node Apache Kafka cluster (replication, failover)",
                                   description=f"Run a KRaft cluster of Apache Kafka {KAFKA_VERSION} nodes on loopback, "
                                               f"each broker and controller.",
                                   epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--state-dir", help="the nodes' data, logs and pid files (default: EOSLAB_CLUSTER_STATE_DIR "
                                            "or ~/.local/state/eoslab/cluster)")
    parser.add_argument("--port", type=int, help="first port of the cluster's block (default: EOSLAB_CLUSTER_PORT or 9292)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    start = actions.add_parser("start", help="start the nodes and wait until a transaction commits on an RF=3 topic")
    start.add_argument("--nodes", type=int, default=None, help="how many nodes (default 3, or as last started)")
    start.add_argument("--fresh", action="store_true", help="wipe every node's data first")
    start.set_defaults(handler=_start)
    actions.add_parser("stop", help="stop every node (SIGKILL after 30 s) and end every cut").set_defaults(handler=_stop)
    status = actions.add_parser("status", help="each node: running or not, pid and port")
    status.add_argument("--json", action="store_true", help='one JSON object: {"bootstrap": …, "nodes": […]}')
    status.set_defaults(handler=_status)
    for name, help_text, handler in (("kill", "SIGKILL node N (a crash: no clean shutdown, data kept)", _kill),
                                     ("restart", "stop node N if it runs and start it again on its data", _restart),
                                     ("pause", "SIGSTOP node N (it answers nothing, like a long GC pause)", _pause),
                                     ("resume", "SIGCONT a paused node N", _resume)):
        action = actions.add_parser(name, help=help_text)
        action.add_argument("node", type=int, metavar="N")
        if name == "restart":
            action.add_argument("--hard", action="store_true", help="SIGKILL instead of a clean shutdown")
        action.set_defaults(handler=handler)
    isolate = actions.add_parser("isolate", help="cut node N's replication and controller links both ways for S s")
    isolate.add_argument("node", type=int, metavar="N")
    isolate.add_argument("--seconds", type=float, required=True, metavar="S",
                         help=f"how long the cut lasts (it ends by itself; at most {MAX_CUT_S:.0f})")
    isolate.set_defaults(handler=_isolate)
    heal = actions.add_parser("heal", help="end node N's cut now (every cut without N)")
    heal.add_argument("node", type=int, nargs="?", metavar="N")
    heal.set_defaults(handler=_heal)
    logs = actions.add_parser("logs", help="print the end of node N's log")
    logs.add_argument("node", type=int, metavar="N")
    logs.add_argument("-n", "--lines", type=int, default=40)
    logs.set_defaults(handler=_logs)


def _cluster(args: argparse.Namespace) -> Cluster:
    return Cluster(state_dir=args.state_dir, base_port=args.port, nodes=getattr(args, "nodes", None))


def _start(args: argparse.Namespace) -> int:
    cluster = _cluster(args)
    if not cluster.start(fresh=args.fresh, quiet=False):
        print(f"The cluster is already running on {cluster.bootstrap}.")
    return 0


def _stop(args: argparse.Namespace) -> int:
    print("Cluster stopped." if _cluster(args).stop() else "The cluster was not running.")
    return 0


def _status(args: argparse.Namespace) -> int:
    status = _cluster(args).status()
    print(status.to_json() if args.json else status.describe())
    return 0 if status.running else 3  # like `systemctl status`: scripts can test it


def _kill(args: argparse.Namespace) -> int:
    cluster = _cluster(args)
    pid = cluster.node(args.node).pid()
    if cluster.kill(args.node):
        print(f"Node {args.node} (pid {pid}) killed with SIGKILL; its data is kept "
              f"(`eoslab cluster restart {args.node}` starts it again).")
    else:
        print(f"Node {args.node} was not running.")
    return 0


def _restart(args: argparse.Namespace) -> int:
    cluster = _cluster(args)
    cluster.restart(args.node, hard=args.hard)
    print(f"Node {args.node} is back on 127.0.0.1:{cluster.node(args.node).ports.client}.")
    return 0


def _pause(args: argparse.Namespace) -> int:
    _cluster(args).pause(args.node)
    print(f"Node {args.node} paused (SIGSTOP); `eoslab cluster resume {args.node}` lets it run again.")
    return 0


def _resume(args: argparse.Namespace) -> int:
    _cluster(args).resume(args.node)
    print(f"Node {args.node} resumed (SIGCONT).")
    return 0


def _isolate(args: argparse.Namespace) -> int:
    _cluster(args).isolate(args.node, args.seconds)
    print(f"Node {args.node} cut off from the other nodes (replication and controller, both ways) for "
          f"{args.seconds:g} s; clients still reach it. `eoslab cluster heal {args.node}` ends it sooner.")
    return 0


def _heal(args: argparse.Namespace) -> int:
    _cluster(args).heal(args.node)
    print("Every cut ended." if args.node is None else f"Node {args.node}'s cut ended.")
    return 0


def _logs(args: argparse.Namespace) -> int:
    cluster = _cluster(args)
    lines = cluster.logs(args.node, args.lines)
    print("\n".join(lines) if lines else f"No log yet for node {args.node} in {cluster.node(args.node).log_dir}.")
    return 0
