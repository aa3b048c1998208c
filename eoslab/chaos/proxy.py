""":class:`FaultProxy`: a Kafka-aware TCP proxy in a background thread, with faults you switch on from Python.

The embedded broker has a second listener (PROXIED) that advertises the proxy's port, so a client
bootstrapped on :attr:`FaultProxy.bootstrap` sends *all* its traffic through the proxy — metadata,
produce, fetch, group and transaction coordinator requests — while clients bootstrapped on the
ordinary address never pass through it. A test or a demo can therefore break one client's network
and read the result with another, healthy one.

What it guarantees:

- **drop_responses("Produce", n)**: the next ``n`` Produce requests reach the broker, which applies
  them; their responses never reach the client — each is swallowed whole and its connection cut, as
  when an acknowledgement is lost. The client sees an unanswered request on a dead connection and
  retries it: a duplicate without idempotence, none with it.
- **delay_responses(s)**: every response leaves the proxy ``s`` seconds after the broker sent it.
- **reset_connections()**: every open client connection is cut at once.
- **partition(t)**: for ``t`` seconds nothing crosses in either direction and new connections are
  accepted by the kernel but answered by no one; then it heals by itself, cutting the connections
  it held, so no byte sent during the partition arrives afterwards.
- Every fault ends by itself (at most :data:`~eoslab.chaos.faults.MAX_FAULT_S`), so an abandoned
  notebook never leaves the broker cut off. Public methods may be called from any thread; each
  returns once the fault is in force.

What it does not do: it knows nothing about TLS or SASL, it does not rewrite or reorder bytes, and
it does not simulate packet loss or bandwidth limits. It only sits in front of the proxied listener:
clients bootstrapped directly on the broker are untouched.

Cost: it runs in a thread of the calling process. Clients in other processes (the course's
workers) pay little for it; a hot Python loop in the *same* process (a cell calling ``produce()``
as fast as it can) shares the GIL with it, and throughput through the proxy then tops out near
25 MB/s on a small machine. ``bench/proxy_overhead.py`` measures both.

Why not an off-the-shelf proxy such as Toxiproxy: those cut, slow or drop *bytes* blindly; they
cannot tell where one Kafka response ends or which request it answers, so "drop the response to
the next produce request, and only that one" cannot be done with them deterministically. This
proxy reads Kafka's framing (size, api_key, api_version, correlation id; see
:mod:`eoslab.chaos.framing`) and nothing else.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import errno
import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import psutil

from ..broker.netutil import describe_listener, listener_pid
from ..errors import EoslabError
from ..kafka.connect import proxy_addresses
from .connection import ClientSide, ProxyContext
from .faults import DEFAULT_FAULT_S, Counters, FaultState, check_duration
from .framing import ApiKey, parse_api

START_TIMEOUT_S = 5.0
STOP_TIMEOUT_S = 5.0
CALL_TIMEOUT_S = 5.0
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")

logger = logging.getLogger(__name__)

T = TypeVar("T")


def split_address(address: str, what: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise EoslabError(f"{what} {address!r} is not host:port with a port from 1 to 65535; use e.g. 127.0.0.1:9095")
    return host.strip("[]"), int(port)


class FaultProxy:
    """A fault-injecting proxy in front of the broker's proxied listener; see the module docstring.

    ``listen`` and ``upstream`` default to :func:`eoslab.kafka.connect.proxy_addresses`: the port the
    broker advertises on its proxied listener, and that listener itself.
    """

    def __init__(self, listen: str | None = None, upstream: str | None = None) -> None:
        default_listen, default_upstream = proxy_addresses()
        self.listen_address = listen or default_listen
        self.upstream_address = upstream or default_upstream
        self._listen = split_address(self.listen_address, "the proxy's listen address")
        self._upstream = split_address(self.upstream_address, "the proxy's upstream address")
        if self._listen[0] not in LOOPBACK_HOSTS:
            raise EoslabError(f"the fault proxy listens on loopback only, not {self._listen[0]}; "
                              f"use 127.0.0.1:{self._listen[1]}")
        self._lock = threading.Lock()  # start() and stop() from several threads
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._context: ProxyContext | None = None
        self._final_counters: dict[str, Any] = self._with_state(Counters().snapshot(), {}, 0)

    # ---- life cycle -----------------------------------------------------------------------------

    @property
    def bootstrap(self) -> str:
        """Give this to a client as ``bootstrap.servers`` to send all its traffic through the proxy."""
        return self.listen_address

    @property
    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> FaultProxy:
        """Listen and forward from a background thread; returns once listening. Idempotent."""
        with self._lock:
            if self.is_running:
                return self
            loop = asyncio.new_event_loop()
            ready: concurrent.futures.Future[None] = concurrent.futures.Future()
            thread = threading.Thread(target=self._serve, args=(loop, ready), daemon=True,
                                      name=f"eoslab-fault-proxy-{self._listen[1]}")
            thread.start()
            try:
                ready.result(timeout=START_TIMEOUT_S)
            except OSError as error:
                thread.join(STOP_TIMEOUT_S)
                if error.errno == errno.EADDRINUSE:
                    raise EoslabError(self._port_in_use_message()) from None
                raise EoslabError(f"the fault proxy cannot listen on {self.listen_address}: {error.strerror or error}; "
                                  f"check the address (EOSLAB_PROXY_ADDRESS)") from None
            except concurrent.futures.TimeoutError:
                raise EoslabError(f"the fault proxy did not start listening on {self.listen_address} within "
                                  f"{START_TIMEOUT_S:.0f} s; restart the kernel and try again") from None
            self._loop, self._thread = loop, thread
            return self

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Heal every fault, cut every connection, stop listening and join the thread. Idempotent."""
        with self._lock:
            thread, loop = self._thread, self._loop
            if thread is None or loop is None:
                return
            if thread.is_alive():
                try:
                    self._final_counters = self._call(self._shutdown)
                except (EoslabError, concurrent.futures.TimeoutError, RuntimeError):
                    pass  # the loop is gone or stuck: stopping it below is all that is left to do
                try:
                    loop.call_soon_threadsafe(loop.stop)
                except RuntimeError:
                    pass  # already closed
                thread.join(timeout_s)
                if thread.is_alive():
                    raise EoslabError(f"the fault proxy thread did not stop within {timeout_s:.0f} s; "
                                      f"restart the kernel to free port {self._listen[1]}")
            self._thread = self._loop = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.is_running else "stopped"
        return f"FaultProxy({self.listen_address} -> {self.upstream_address}, {state})"

    # ---- faults ---------------------------------------------------------------------------------

    def drop_responses(self, api: ApiKey | int | str = ApiKey.Produce, count: int = 1,
                       within_s: float = DEFAULT_FAULT_S) -> None:
        """Swallow the responses to the next ``count`` requests of ``api`` and cut their connections.

        The broker still receives and applies those requests. If fewer than ``count`` such requests
        pass within ``within_s`` seconds, the rest of the budget expires.
        """
        api_key = parse_api(api)
        if not isinstance(count, int) or count < 1:
            raise EoslabError(f"count must be a whole number of responses, 1 or more, not {count!r}")
        within_s = check_duration(within_s, "within_s")
        self._call(lambda: self._faults.add_drops(int(api_key), count, within_s))

    def delay_responses(self, seconds: float, duration_s: float = DEFAULT_FAULT_S) -> None:
        """Hold every response ``seconds`` before passing it on, for the next ``duration_s`` seconds."""
        seconds = check_duration(seconds, "the delay")
        duration_s = check_duration(duration_s, "duration_s")
        self._call(lambda: self._faults.set_delay(seconds, duration_s))

    @contextmanager
    def delayed(self, seconds: float, max_s: float = DEFAULT_FAULT_S) -> Iterator[FaultProxy]:
        """Delay responses for the ``with`` block (at most ``max_s`` seconds)."""
        self.delay_responses(seconds, duration_s=max_s)
        try:
            yield self
        finally:
            if self.is_running:
                self._call(lambda: self._faults.end_delay())

    def reset_connections(self) -> int:
        """Cut every open client connection now; returns how many were cut. Clients reconnect."""
        return self._call(self._cut_all)

    def partition(self, duration_s: float) -> None:
        """Let nothing through for ``duration_s`` seconds, then heal by itself (see the module docstring)."""
        duration_s = check_duration(duration_s, "duration_s")
        self._call(lambda: self._begin_partition(duration_s))

    @contextmanager
    def partitioned(self, max_s: float = DEFAULT_FAULT_S) -> Iterator[FaultProxy]:
        """Partition for the ``with`` block (at most ``max_s`` seconds), heal when it ends."""
        self.partition(max_s)
        try:
            yield self
        finally:
            if self.is_running:
                self._call(lambda: self._faults.end_partition())

    def heal(self) -> None:
        """End every fault now: drop budgets, delay, partition (whose connections are cut)."""
        if self.is_running:
            self._call(lambda: self._faults.clear())

    def active_faults(self) -> dict[str, Any]:
        """The faults in force and the seconds each has left, e.g. ``{"partition": {"heals_in_s": 2.5}}``."""
        if not self.is_running:
            return {}
        return self._call(lambda: self._faults.describe())

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the proxy's thread has used so far: its cost, whatever the load."""
        thread = self._thread
        if thread is None or thread.native_id is None:
            return 0.0
        for info in psutil.Process().threads():
            if info.id == thread.native_id:
                return info.user_time + info.system_time
        return 0.0

    def counters(self) -> dict[str, Any]:
        """A snapshot: connections, requests_forwarded / responses_forwarded / responses_dropped by API
        name, connections_cut, bytes each way, plus ``open_connections`` and ``faults`` in force."""
        if not self.is_running:
            return dict(self._final_counters)
        return self._call(self._snapshot)

    # ---- the loop thread ------------------------------------------------------------------------

    @property
    def _faults(self) -> FaultState:
        assert self._context is not None and self._context.faults is not None
        return self._context.faults

    def _serve(self, loop: asyncio.AbstractEventLoop, ready: concurrent.futures.Future[None]) -> None:
        asyncio.set_event_loop(loop)
        loop.set_exception_handler(self._on_loop_error)
        context = ProxyContext(loop=loop, upstream_host=self._upstream[0], upstream_port=self._upstream[1])
        context.faults = FaultState(loop, on_partition_end=self._cut_all)
        self._context = context
        host, port = self._listen
        try:
            try:
                # reuse_address: a port left in TIME_WAIT by the previous proxy can be bound at once;
                # it does not let two proxies listen on the same port.
                self._server = loop.run_until_complete(
                    loop.create_server(lambda: ClientSide(context), host, port, reuse_address=True))
            except BaseException as error:  # noqa: BLE001 - handed to start(), which explains it
                ready.set_exception(error)
                return
            ready.set_result(None)
            loop.run_forever()
            # Connection attempts still pending: cancel them and let them finish, so nothing is
            # left "destroyed but pending" (which would print a warning on stderr).
            pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
            for task in pending:
                task.cancel()
            # One more turn of the loop also runs the closed sockets' connection_lost callbacks.
            loop.run_until_complete(asyncio.gather(*pending, asyncio.sleep(0), return_exceptions=True))
        finally:
            loop.close()

    def _call(self, function: Callable[[], T]) -> T:
        """Run ``function`` on the proxy's loop thread and return its result."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or not thread.is_alive():
            raise EoslabError("the fault proxy is not running; call proxy.start() first")
        if threading.current_thread() is thread:
            return function()
        result: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                result.set_result(function())
            except BaseException as error:  # noqa: BLE001 - re-raised in the caller's thread
                result.set_exception(error)

        try:
            loop.call_soon_threadsafe(run)
        except RuntimeError:
            raise EoslabError("the fault proxy is not running; call proxy.start() first") from None
        return result.result(timeout=CALL_TIMEOUT_S)

    def _begin_partition(self, duration_s: float) -> None:
        assert self._context is not None
        if self._faults.begin_partition(duration_s):
            self._context.counters.partitions += 1
            for connection in list(self._context.connections):
                connection.hold()

    def _cut_all(self) -> int:
        assert self._context is not None
        connections = list(self._context.connections)
        for connection in connections:
            connection.cut(graceful=False)
        return len(connections)

    def _snapshot(self) -> dict[str, Any]:
        assert self._context is not None
        return self._with_state(self._context.counters.snapshot(), self._faults.describe(),
                                len(self._context.connections))

    @staticmethod
    def _with_state(snapshot: dict[str, Any], faults: dict[str, Any], open_connections: int) -> dict[str, Any]:
        snapshot["open_connections"] = open_connections
        snapshot["faults"] = faults
        return snapshot

    def _shutdown(self) -> dict[str, Any]:
        assert self._context is not None
        self._faults.clear()
        if self._server is not None:
            self._server.close()  # stops listening now: the port is free when stop() returns
        for connection in list(self._context.connections):
            connection.close(abort=True)
        final = self._snapshot()
        final["faults"] = {}
        return final

    def _on_loop_error(self, loop: asyncio.AbstractEventLoop, details: dict[str, Any]) -> None:
        """An error inside the proxy: counted and kept for counters(), never printed.

        asyncio's default handler logs to the root logger, whose last resort is stderr, and anything
        on stderr fails an nbgrader test cell.
        """
        error = details.get("exception")
        text = f"{details.get('message', 'error')}: {error!r}" if error else str(details.get("message"))
        if self._context is not None:
            self._context.counters.internal_errors += 1
            self._context.counters.last_internal_error = text[:300]
        logger.debug("fault proxy: %s", text)

    def _port_in_use_message(self) -> str:
        host, port = self._listen
        holder_pid = listener_pid(port)
        # The broker sends proxied clients to this port, so the proxy cannot simply move elsewhere.
        if holder_pid == os.getpid():
            return (f"port {port} on {host} is in use by another FaultProxy in this kernel, so this one cannot "
                    f"listen there; call stop() on the other one (or restart the kernel)")
        if holder_pid is not None:
            return (f"port {port} on {host} is in use{describe_listener(port)}, so the fault proxy cannot listen "
                    f"there; stop that program (another notebook's kernel: restart it), or move the course's ports "
                    f"with EOSLAB_BROKER_PORT (the proxy uses that port + 3)")
        return (f"port {port} on {host} is in use by a program this user cannot see, so the fault proxy cannot "
                f"listen there; find it with `ss -ltnp 'sport = :{port}'` and stop it, or move the course's ports "
                f"with EOSLAB_BROKER_PORT (the proxy uses that port + 3)")
