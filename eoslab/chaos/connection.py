"""One client connection through the fault proxy: client <-> proxy <-> the broker's proxied listener.

Each accepted client socket gets its own socket to the broker. Requests stream to the broker as
they arrive; the proxy notes each request's correlation id and API on the way. Responses stream back
once their header is known, so the proxy can tell which request a response answers and swallow it.

Guarantees (for one connection):

- bytes are forwarded in order and unchanged, unless a fault cuts the connection — including
  bytes the client sends before the proxy's own connection to the broker exists: they are held
  and sent first, once it does (see ``ProxiedConnection.early``);
- a swallowed response is never partly sent: the responses before it are delivered, then the
  connection is closed, so the client sees its request go unanswered and the connection drop —
  exactly what a lost acknowledgement looks like to it;
- while partitioned, nothing is read from either socket (the bytes wait in the kernel), so nothing
  crosses; the partition's end cuts the connection, so nothing sent during it arrives late;
- a delayed response leaves no earlier than ``delay`` seconds after it arrived, in order.

Assumptions: the broker answers requests on one connection in order (Kafka does), and a Produce
with ``acks=0`` gets no response (its correlation id is forgotten after a while, see
``MAX_REMEMBERED_REQUESTS``). Work per byte is nil: only frame headers are unpacked, with the
event loop's large reads, and reading pauses whenever the other side cannot keep up.

Portability: pausing a transport inside ``connection_made`` does not hold on every CPython. Up to
3.11.2 (so Python 3.10 and Debian 12's own 3.11.2) the selector transport registers its reader
*after* ``connection_made`` without checking whether it was paused meanwhile (3.11.7+ checks
``is_reading()``), so a client's first request can be read before the broker side is connected.
Such bytes are kept, never dropped, and the pause is re-applied so at most one read is held.
"""

from __future__ import annotations

import asyncio
import collections
import socket
from dataclasses import dataclass, field

from .faults import Counters, FaultState
from .framing import FramingError, request_scanner, response_scanner

CONNECT_TIMEOUT_S = 5.0
#: Bytes read per wake-up, kernel socket buffers, and bytes buffered per socket before pausing the
#: other side. Large, because the proxy thread shares the GIL with the notebook's own Python: while
#: a loop there calls produce() the proxy runs once per sys.getswitchinterval() (5 ms), and each
#: turn must move whole produce requests (up to ~1 MB) or throughput is capped near 25 MB/s.
READ_SIZE = 4 * 1024 * 1024
SOCKET_BUFFER = 4 * 1024 * 1024  # the kernel caps it at net.core.rmem_max / wmem_max
WRITE_BUFFER_HIGH = 8 * 1024 * 1024
#: Requests that get no answer (acks=0 produce) must not grow the table without bound.
MAX_REMEMBERED_REQUESTS = 4096
#: Responses held back by a delay, per connection, before the proxy stops reading from the broker.
MAX_DELAYED_BYTES = 8 * 1024 * 1024


@dataclass
class ProxyContext:
    """What every connection shares: the faults in force, the counters, the broker, the others."""

    loop: asyncio.AbstractEventLoop
    upstream_host: str
    upstream_port: int
    counters: Counters = field(default_factory=Counters)
    faults: FaultState | None = None
    connections: set[ProxiedConnection] = field(default_factory=set)
    connect_tasks: set[asyncio.Task[None]] = field(default_factory=set)


def tune(transport: asyncio.BaseTransport) -> None:
    """Large reads and write buffers for one socket (see READ_SIZE)."""
    transport.set_write_buffer_limits(high=WRITE_BUFFER_HIGH)  # type: ignore[attr-defined]
    sock = transport.get_extra_info("socket")
    if sock is not None:
        for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
            try:
                sock.setsockopt(socket.SOL_SOCKET, option, SOCKET_BUFFER)
            except OSError:
                pass  # a smaller buffer only costs throughput
    if hasattr(transport, "max_size"):
        transport.max_size = READ_SIZE  # CPython's selector transport: bytes per recv() (default 256 KiB)


class _ReadGate:
    """Pauses reading from a transport while any reason holds (backpressure, connecting, partition)."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.reasons: set[str] = set()

    def pause(self, reason: str) -> None:
        if not self.reasons:
            self.transport.pause_reading()
        self.reasons.add(reason)

    def repause(self) -> None:
        """Pause again, for a transport that reads although paused (see the module docstring)."""
        if self.reasons and not self.transport.is_closing():
            self.transport.resume_reading()  # clears the paused flag, so the next call really pauses
            self.transport.pause_reading()

    def resume(self, reason: str) -> None:
        if reason in self.reasons:
            self.reasons.discard(reason)
            if not self.reasons and not self.transport.is_closing():
                self.transport.resume_reading()


class ProxiedConnection:
    def __init__(self, context: ProxyContext, client: asyncio.Transport) -> None:
        self.context = context
        self.client = client
        self.client_gate = _ReadGate(client)
        self.upstream: asyncio.Transport | None = None
        self.upstream_gate: _ReadGate | None = None
        self.requests = request_scanner()
        self.responses = response_scanner()
        self.in_flight: dict[int, int] = {}   # correlation id -> api key, for requests not yet answered
        self.doomed: set[int] = set()         # correlation ids whose response will be swallowed
        self.delayed: collections.deque[tuple[float, bytes]] = collections.deque()
        self.delayed_bytes = 0
        self.delay_timer: asyncio.TimerHandle | None = None
        self.upstream_closed = False
        self.closed = False
        #: Bytes the client sent before the broker side was connected, in order (see the docstring).
        self.early: list[bytes] = []
        context.connections.add(self)
        context.counters.connections += 1
        self.client_gate.pause("connecting")  # nothing to forward to until the broker side is up
        if self.faults.partitioned:
            self.hold()  # accepted by the kernel, answered by no one: cut when the partition ends
            return
        task = context.loop.create_task(self._connect_upstream())
        context.connect_tasks.add(task)
        task.add_done_callback(context.connect_tasks.discard)

    @property
    def faults(self) -> FaultState:
        assert self.context.faults is not None
        return self.context.faults

    async def _connect_upstream(self) -> None:
        context = self.context
        try:
            transport, _ = await asyncio.wait_for(
                context.loop.create_connection(lambda: _UpstreamSide(self), context.upstream_host,
                                               context.upstream_port), CONNECT_TIMEOUT_S)
        except (OSError, asyncio.TimeoutError):
            context.counters.upstream_failures += 1
            self.close()  # the client sees its connection drop, as if the broker were down
            return
        if self.closed:
            transport.abort()
            return
        self.upstream = transport  # type: ignore[assignment]
        self.upstream_gate = _ReadGate(transport)  # type: ignore[arg-type]
        if self.faults.partitioned:
            self.hold()  # the early bytes wait with the rest; the partition's end cuts this connection
            return
        early, self.early = self.early, []
        for data in early:
            self._forward_requests(data)
            if self.closed:
                return
        self.client_gate.resume("connecting")

    # ---- client -> broker -----------------------------------------------------------------------

    def on_request_bytes(self, data: bytes) -> None:
        if self.closed or self.faults.partitioned:
            return  # a partition cuts this connection when it ends; nothing read now may cross
        if self.upstream is None:
            # Read although reading was paused (CPython <= 3.11.2, see the module docstring): keep
            # the bytes for the broker side, and pause again for real so no more arrive meanwhile.
            self.early.append(data)
            if len(self.early) == 1:
                self.client_gate.repause()
            return
        self._forward_requests(data)

    def _forward_requests(self, data: bytes) -> None:
        assert self.upstream is not None
        try:
            _, headers = self.requests.feed(data)
        except FramingError:
            self.context.counters.framing_errors += 1
            self.cut(graceful=False)
            return
        counters = self.context.counters
        faults = self.faults
        in_flight = self.in_flight
        for _, (_size, api_key, _version, correlation_id) in headers:
            in_flight[correlation_id] = api_key
            counters.count_request(api_key)
            if faults.drop_budget and faults.take_drop(api_key):
                self.doomed.add(correlation_id)
        while len(in_flight) > MAX_REMEMBERED_REQUESTS:
            del in_flight[next(iter(in_flight))]  # the oldest: a request that will never be answered
        self.upstream.write(data)
        counters.bytes_to_broker += len(data)

    # ---- broker -> client -----------------------------------------------------------------------

    def on_response_bytes(self, data: bytes) -> None:
        if self.closed:
            return
        delay = self.faults.delay_s
        if delay or self.delayed:  # once anything waits, everything after it waits too: order holds
            loop = self.context.loop
            self.delayed.append((loop.time() + delay, data))
            self.delayed_bytes += len(data)
            self.context.counters.responses_delayed += 1
            if self.delayed_bytes > MAX_DELAYED_BYTES and self.upstream_gate:
                self.upstream_gate.pause("delay")
            if self.delay_timer is None:
                self.delay_timer = loop.call_at(self.delayed[0][0], self._release_delayed)
            return
        self._forward_responses(data)

    def _release_delayed(self) -> None:
        self.delay_timer = None
        if self.closed:
            return
        if self.faults.partitioned:
            return  # held: the partition's end cuts this connection
        now = self.context.loop.time()
        while self.delayed and self.delayed[0][0] <= now:
            _, data = self.delayed.popleft()
            self.delayed_bytes -= len(data)
            self._forward_responses(data)
            if self.closed:
                return
        if self.delayed:
            self.delay_timer = self.context.loop.call_at(self.delayed[0][0], self._release_delayed)
            return
        if self.upstream_gate:
            self.upstream_gate.resume("delay")
        if self.upstream_closed:
            self.close()

    def _forward_responses(self, chunk: bytes) -> None:
        try:
            data, headers = self.responses.feed(chunk)
        except FramingError:
            self.context.counters.framing_errors += 1
            self.cut(graceful=False)
            return
        counters = self.context.counters
        for offset, (_size, correlation_id) in headers:
            api_key = self.in_flight.pop(correlation_id, -1)
            if self.doomed and correlation_id in self.doomed:
                # The broker has done the work; the client must never hear. Deliver what came
                # before this response, then hang up: the client sees a dead connection.
                if offset:
                    self.client.write(data[:offset])
                counters.count_drop(api_key)
                self.cut(graceful=True)
                return
            counters.count_response(api_key)
        if data:
            self.client.write(data)
            counters.bytes_to_clients += len(data)

    # ---- faults and endings ---------------------------------------------------------------------

    def hold(self) -> None:
        """Partition: read nothing from either side until the partition ends (which cuts us)."""
        self.client_gate.pause("partition")
        if self.upstream_gate:
            self.upstream_gate.pause("partition")

    def cut(self, graceful: bool) -> None:
        """End the connection because of a fault. ``graceful`` still delivers what was already sent."""
        if self.closed:
            return
        self.context.counters.connections_cut += 1
        self._finish()
        if self.upstream:
            self.upstream.abort()
        if graceful:
            self.client.close()
        else:
            self.client.abort()

    def close(self, abort: bool = False) -> None:
        """An ordinary end (one side hung up): pass the hang-up on, after the bytes already sent.

        ``abort`` (the proxy stopping) closes both sockets at once, sending nothing more.
        """
        if self.closed:
            return
        self._finish()
        for transport in (self.upstream, self.client):
            if transport is not None:
                if abort:
                    transport.abort()
                else:
                    transport.close()

    def _finish(self) -> None:
        self.closed = True
        self.context.connections.discard(self)
        if self.delay_timer is not None:
            self.delay_timer.cancel()
            self.delay_timer = None
        self.delayed.clear()
        self.early.clear()

    def on_upstream_lost(self) -> None:
        self.upstream_closed = True
        if not self.delayed:
            self.close()  # else the delayed responses still go out first, then the close

    def pause_client_reading(self, paused: bool) -> None:
        if paused:
            self.client_gate.pause("broker-busy")
        else:
            self.client_gate.resume("broker-busy")

    def pause_upstream_reading(self, paused: bool) -> None:
        if self.upstream_gate is None:
            return
        if paused:
            self.upstream_gate.pause("client-busy")
        else:
            self.upstream_gate.resume("client-busy")


class ClientSide(asyncio.Protocol):
    """The socket a client opened to the proxy."""

    def __init__(self, context: ProxyContext) -> None:
        self.context = context
        self.connection: ProxiedConnection | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        tune(transport)
        self.connection = ProxiedConnection(self.context, transport)  # type: ignore[arg-type]

    def data_received(self, data: bytes) -> None:
        assert self.connection is not None
        self.connection.on_request_bytes(data)

    def eof_received(self) -> bool | None:
        return None  # close our side too; connection_lost passes the hang-up on

    def connection_lost(self, exc: Exception | None) -> None:
        if self.connection is not None:
            self.connection.close()

    def pause_writing(self) -> None:
        if self.connection is not None:
            self.connection.pause_upstream_reading(True)

    def resume_writing(self) -> None:
        if self.connection is not None:
            self.connection.pause_upstream_reading(False)


class _UpstreamSide(asyncio.Protocol):
    """The proxy's socket to the broker's proxied listener, for one client connection."""

    def __init__(self, connection: ProxiedConnection) -> None:
        self.connection = connection

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        tune(transport)

    def data_received(self, data: bytes) -> None:
        self.connection.on_response_bytes(data)

    def eof_received(self) -> bool | None:
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.connection.on_upstream_lost()

    def pause_writing(self) -> None:
        self.connection.pause_client_reading(True)

    def resume_writing(self) -> None:
        self.connection.pause_client_reading(False)

