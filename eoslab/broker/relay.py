"""The cluster's relay: every link between two nodes crosses it, so one node can be cut off.

A :class:`~eoslab.broker.cluster.Cluster` configures node *j* to reach node *i*'s replication and
controller listeners at relay ports (:class:`~eoslab.broker.settings.ClusterPorts`), never at node
*i*'s own ports. This process listens on all those ports and forwards bytes unchanged, one TCP
connection upstream for each connection accepted. Clients never pass through it: they talk to each
node's client port directly.

Cutting node *n* (:meth:`Cluster.isolate`) writes ``{"<n>": <until, unix time>}`` into the cuts
file; the relay reads it within 0.1 s and then, until that time, for every link from or to *n*:

- open connections are closed at once (both sides see the link go down);
- new connections are accepted by the kernel and answered by no one (held silent), as behind a
  network partition, and closed when the cut ends, so no byte sent during the cut arrives later.

Every cut ends by itself, at most :data:`MAX_CUT_S` after it was asked for (an abandoned notebook
never leaves a node cut off), and stopping the cluster stops the relay, which ends every cut. The
relay writes the sequence number of the cuts it applied into ``<cuts file>.applied``, so the caller
returns only once a cut is in force.

It is plain ``asyncio`` and runs as its own small process (``python relay.py <spec.json>``), started
by path with nothing of ``eoslab`` imported: the cluster's wiring costs a Python interpreter, not a
Kafka client. Throughput: replication crosses one extra loopback hop in Python
(``bench/cluster.py`` measures ``acks=all`` with it).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

MAX_CUT_S = 300.0
POLL_S = 0.1
CHUNK = 256 * 1024


class Link:
    """One direction of one pair: node ``source``'s connections to node ``target`` (one listener)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.name = spec["name"]
        self.source = int(spec["source"])
        self.target = int(spec["target"])
        self.listen = int(spec["listen"])
        self.upstream = int(spec["upstream"])
        self.writers: set[asyncio.StreamWriter] = set()
        self.cut = False
        self.healed = asyncio.Event()
        self.healed.set()

    def set_cut(self, cut: bool) -> None:
        if cut == self.cut:
            return
        self.cut = cut
        if cut:
            self.healed.clear()
        else:
            self.healed.set()
        for writer in list(self.writers):  # cut: the link goes down; healed: the held ones are let go
            writer.close()
        self.writers.clear()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.add(writer)
        try:
            if self.cut:  # accepted, never answered; closed when the cut ends
                await self.healed.wait()
                return
            try:
                up_reader, up_writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", self.upstream), 5)
            except (OSError, asyncio.TimeoutError):
                return  # the node is down: the peer sees its connection closed, as with a refused one
            self.writers.add(up_writer)
            if self.cut:  # cut while connecting: this connection must not cross either
                up_writer.close()
                return
            try:
                await asyncio.gather(_pump(reader, up_writer), _pump(up_reader, writer))
            finally:
                up_writer.close()
                self.writers.discard(up_writer)
        finally:
            writer.close()
            self.writers.discard(writer)


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    except (OSError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


def read_cuts(path: Path) -> tuple[int, dict[int, float]]:
    """(sequence, {node: until}) from the cuts file; a missing or broken file means no cut."""
    try:
        data = json.loads(path.read_text())
        now = time.time()
        cuts = {int(node): min(float(until), now + MAX_CUT_S) for node, until in data.get("cuts", {}).items()}
        return int(data.get("sequence", 0)), cuts
    except (OSError, ValueError, TypeError, AttributeError):
        return 0, {}


async def serve(spec: dict[str, Any]) -> None:
    links = [Link(item) for item in spec["links"]]
    cuts_file = Path(spec["cuts_file"])
    servers = []
    for link in links:
        try:
            servers.append(await asyncio.start_server(link.handle, "127.0.0.1", link.listen, reuse_address=True))
        except OSError as error:
            print(f"relay: cannot listen on 127.0.0.1:{link.listen} for {link.name}: {error.strerror}",
                  file=sys.stderr, flush=True)
            raise SystemExit(2) from None
    Path(spec["ready_file"]).write_text(f"{os.getpid()}\n")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    applied = Path(f"{cuts_file}.applied")
    seen: tuple[float, int] | None = None
    cuts: dict[int, float] = {}
    sequence, written = 0, -1
    while not stop.is_set():
        try:
            stat = cuts_file.stat()
            key: tuple[float, int] | None = (stat.st_mtime, stat.st_size)
        except OSError:
            key = None
        if key != seen:
            seen = key
            sequence, cuts = read_cuts(cuts_file)
        now = time.time()
        cut_nodes = {node for node, until in cuts.items() if until > now}
        for link in links:
            link.set_cut(link.source in cut_nodes or link.target in cut_nodes)
        if written != sequence:
            applied.write_text(f"{sequence}\n")
            written = sequence
        try:
            await asyncio.wait_for(stop.wait(), POLL_S)
        except asyncio.TimeoutError:
            pass
    for link in links:
        link.set_cut(True)
    for server in servers:
        server.close()


def applied_sequence(path: Path) -> int:
    try:
        return int(path.read_text().strip() or 0)
    except (OSError, ValueError):
        return -1


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[1]).read_text())
    asyncio.run(serve(spec))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
