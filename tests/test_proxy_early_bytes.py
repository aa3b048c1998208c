"""The fault proxy keeps bytes a client sends before the proxy's own broker connection exists.

Specification: every byte a client writes is forwarded upstream, in order, even when it arrives
before the proxy has connected to the broker. On CPython <= 3.11.2 (Python 3.10, Debian 12's own
python3) the proxy's "pause reading until connected" does not hold, so such bytes *are* read early;
they used to be dropped, and every librdkafka client through the proxy failed with "Broker
transport failure". These tests need no broker (the upstream is a socket that records what it
gets), so CI runs them on every interpreter it has (see scripts/other-pythons.sh).

- ``test_bytes_fed_before_the_upstream_exists_are_forwarded_in_order`` calls the connection's
  byte handler directly before the upstream is connected: deterministic on every Python.
- ``test_a_client_that_writes_at_once_reaches_the_upstream_whole`` holds the proxy's upstream
  connect until the client has sent everything and the proxy has read it (or 2 s pass, where the pause holds), with
  real sockets: on the old interpreters that is the early read the bug dropped.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from eoslab.broker.netutil import free_port
from eoslab.chaos import FaultProxy
from eoslab.chaos.connection import ProxiedConnection, ProxyContext
from eoslab.chaos.faults import FaultState

DEADLINE_S = 10.0


def request_frame(correlation_id: int, body: bytes = b"\x00" * 16, api_key: int = 18) -> bytes:
    """A Kafka request frame (size, api_key, api_version, correlation id, body): what the proxy scans."""
    header = struct.pack(">hhi", api_key, 3, correlation_id)
    return struct.pack(">i", len(header) + len(body)) + header + body


class RecordingUpstream:
    """A TCP server on loopback that records every byte it receives (and answers nothing)."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.received = bytearray()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.server.settimeout(DEADLINE_S)
        try:
            connection, _ = self.server.accept()
        except OSError:
            return
        with connection:
            connection.settimeout(DEADLINE_S)
            while True:
                try:
                    chunk = connection.recv(65536)
                except OSError:
                    return
                if not chunk:
                    return
                with self.lock:
                    self.received += chunk

    def wait_for(self, size: int) -> bytes:
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= size:
                    return bytes(self.received)
            time.sleep(0.02)
        with self.lock:
            return bytes(self.received)

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def upstream() -> Iterator[RecordingUpstream]:
    server = RecordingUpstream()
    yield server
    server.close()


class FakeClientTransport(asyncio.Transport):
    """The client side of a proxied connection, recording pause/resume instead of touching a socket."""

    def __init__(self) -> None:
        super().__init__()
        self.reading = True
        self.written = bytearray()
        self.closing = False

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def is_reading(self) -> bool:
        return self.reading

    def is_closing(self) -> bool:
        return self.closing

    def write(self, data: Any) -> None:
        self.written += data

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


def run_on_its_own_loop(scenario: Any) -> Any:
    """``asyncio.run(scenario())`` in a thread of its own, with a deadline.

    A test that ran earlier in the same pytest worker (a kernel client, a widget) may have left an
    event loop running in the main thread, where ``asyncio.run`` refuses to start another.
    """
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = asyncio.run(scenario())
        except BaseException as error:  # noqa: BLE001 - re-raised in the test's thread below
            result["error"] = error

    thread = threading.Thread(target=target, name="early-bytes-scenario", daemon=True)
    thread.start()
    thread.join(DEADLINE_S * 2)
    assert not thread.is_alive(), f"the scenario did not finish within {DEADLINE_S * 2:.0f} s"
    if "error" in result:
        raise result["error"]
    return result["value"]


def test_bytes_fed_before_the_upstream_exists_are_forwarded_in_order(upstream: RecordingUpstream) -> None:
    frames = [request_frame(correlation_id) for correlation_id in range(1, 6)]
    stream = b"".join(frames)

    async def scenario() -> tuple[list[bytes], bool]:
        loop = asyncio.get_running_loop()
        context = ProxyContext(loop=loop, upstream_host="127.0.0.1", upstream_port=upstream.port)
        context.faults = FaultState(loop, on_partition_end=lambda: 0)
        client = FakeClientTransport()
        connection = ProxiedConnection(context, client)
        # The upstream connect task has not run yet: these bytes arrive before it exists, cut at
        # odd places (a frame split across reads), as the old interpreters deliver them.
        for start in range(0, len(stream), 7):
            connection.on_request_bytes(stream[start:start + 7])
        held = list(connection.early)
        deadline = loop.time() + DEADLINE_S
        while connection.upstream is None and loop.time() < deadline and not connection.closed:
            await asyncio.sleep(0.01)
        assert connection.upstream is not None, "the proxy never connected to the recording upstream"
        reading_resumed = client.reading
        connection.close()
        await asyncio.sleep(0)
        return held, reading_resumed

    held, reading_resumed = run_on_its_own_loop(scenario)

    assert b"".join(held) == stream, "the early bytes were not kept"
    assert upstream.wait_for(len(stream)) == stream
    assert reading_resumed, "reading from the client must resume once the upstream is connected"


def test_a_client_that_writes_at_once_reaches_the_upstream_whole(upstream: RecordingUpstream,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    early_reads: list[bool] = []
    client_has_sent = threading.Event()
    connect_upstream = ProxiedConnection._connect_upstream

    async def connect_late(self: ProxiedConnection) -> None:
        # Hold the broker side back until the proxy has drained the client's bytes from the kernel
        # (the early read of CPython <= 3.11.2) or 2 s passed (the pause held: 3.11.7+).
        deadline = time.monotonic() + DEADLINE_S
        while not client_has_sent.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        # A duplicate of the accepted socket's descriptor: peeking never takes bytes from the proxy.
        with socket.fromfd(self.client.get_extra_info("socket").fileno(), socket.AF_INET, socket.SOCK_STREAM) as peek:
            deadline = time.monotonic() + 2.0
            drained = False
            while time.monotonic() < deadline:
                try:
                    drained = not peek.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
                except BlockingIOError:
                    drained = True  # nothing waiting in the kernel: the proxy has read it
                if drained:
                    break
                await asyncio.sleep(0.01)
        early_reads.append(drained)
        await connect_upstream(self)

    monkeypatch.setattr(ProxiedConnection, "_connect_upstream", connect_late)
    stream = b"".join(request_frame(correlation_id, body=bytes([correlation_id]) * 100)
                      for correlation_id in range(1, 21))
    proxy = FaultProxy(f"127.0.0.1:{free_port()}", f"127.0.0.1:{upstream.port}").start()
    try:
        host, port = proxy.bootstrap.rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=DEADLINE_S) as client:
            client.sendall(stream)  # at once, before the proxy can have connected upstream
            client_has_sent.set()
            received = upstream.wait_for(len(stream))
        counters = proxy.counters()
    finally:
        proxy.stop()

    assert received == stream, (f"Python {sys.version.split()[0]}: the upstream got {len(received)} of "
                                f"{len(stream)} bytes (read early: {early_reads})")
    assert counters["internal_errors"] == 0, counters["last_internal_error"]
    assert counters["bytes_to_broker"] == len(stream)
