"""The faults a :class:`~eoslab.chaos.FaultProxy` can apply, each with its own end time, and its counters.

Everything here lives on the proxy's event loop thread: the proxy's public methods hand work to
that thread, so no lock is needed and a fault is in force for the very next byte.

Guarantee: every fault ends by itself. A drop budget expires, a delay and a partition have a
duration, and none may be asked for longer than :data:`MAX_FAULT_S` — a notebook abandoned in the
middle of a demo never leaves the broker unreachable.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import EoslabError
from .framing import api_name

#: The longest any one fault may last; asking for more is an error, not a silent clamp.
MAX_FAULT_S = 300.0
#: How long a fault lasts when the caller does not say (a drop budget, a delay, a ``with`` block).
DEFAULT_FAULT_S = 60.0


def check_duration(seconds: float, what: str) -> float:
    seconds = float(seconds)
    if not 0 < seconds <= MAX_FAULT_S:
        raise EoslabError(f"{what} must be between 0 and {MAX_FAULT_S:.0f} s, not {seconds:g}; every fault "
                          f"ends by itself so an abandoned notebook never leaves the broker cut off")
    return seconds


def _bump(table: dict[int, int], api_key: int, by: int = 1) -> None:
    table[api_key] = table.get(api_key, 0) + by


@dataclass
class Counters:
    """What the proxy did since it started; :meth:`snapshot` gives a plain dict keyed by API name."""

    connections: int = 0             # client connections accepted
    connections_cut: int = 0         # cut by a fault: a dropped response, reset_connections, a partition's end
    upstream_failures: int = 0       # the broker's proxied listener did not accept a connection
    framing_errors: int = 0          # bytes that were not Kafka frames (the connection was cut)
    partitions: int = 0              # partitions begun
    responses_delayed: int = 0       # chunks of responses held back by a delay
    internal_errors: int = 0         # bugs in the proxy itself (0 unless something is wrong here)
    last_internal_error: str = ""
    bytes_to_broker: int = 0
    bytes_to_clients: int = 0
    requests_forwarded: dict[int, int] = field(default_factory=dict)
    responses_forwarded: dict[int, int] = field(default_factory=dict)
    responses_dropped: dict[int, int] = field(default_factory=dict)

    def count_request(self, api_key: int) -> None:
        _bump(self.requests_forwarded, api_key)

    def count_response(self, api_key: int) -> None:
        _bump(self.responses_forwarded, api_key)

    def count_drop(self, api_key: int) -> None:
        _bump(self.responses_dropped, api_key)

    def snapshot(self) -> dict[str, Any]:
        def by_name(table: dict[int, int]) -> dict[str, int]:
            return {api_name(key): count for key, count in sorted(table.items())}

        return {
            "connections": self.connections,
            "connections_cut": self.connections_cut,
            "upstream_failures": self.upstream_failures,
            "framing_errors": self.framing_errors,
            "partitions": self.partitions,
            "responses_delayed": self.responses_delayed,
            "internal_errors": self.internal_errors,
            "last_internal_error": self.last_internal_error,
            "bytes_to_broker": self.bytes_to_broker,
            "bytes_to_clients": self.bytes_to_clients,
            "requests_forwarded": by_name(self.requests_forwarded),
            "responses_forwarded": by_name(self.responses_forwarded),
            "responses_dropped": by_name(self.responses_dropped),
        }


class FaultState:
    """The faults in force now. Only the event loop thread may call these methods."""

    def __init__(self, loop: asyncio.AbstractEventLoop, on_partition_end: Callable[[], None]) -> None:
        self._loop = loop
        self._on_partition_end = on_partition_end
        self.drop_budget: dict[int, int] = {}   # api_key -> responses still to swallow
        self._drop_timers: dict[int, asyncio.TimerHandle] = {}
        self.delay_s = 0.0
        self._delay_timer: asyncio.TimerHandle | None = None
        self.partitioned = False
        self._partition_timer: asyncio.TimerHandle | None = None

    # ---- dropped responses ----------------------------------------------------------------------

    def add_drops(self, api_key: int, count: int, within_s: float) -> None:
        _bump(self.drop_budget, api_key, count)
        self._replace_timer(self._drop_timers.pop(api_key, None))
        self._drop_timers[api_key] = self._loop.call_later(within_s, self.end_drops, api_key)

    def take_drop(self, api_key: int) -> bool:
        """Whether the request just seen is one whose response must be swallowed (uses the budget)."""
        left = self.drop_budget.get(api_key)
        if not left:
            return False
        if left == 1:
            self.end_drops(api_key)
        else:
            self.drop_budget[api_key] = left - 1
        return True

    def end_drops(self, api_key: int | None = None) -> None:
        keys = list(self.drop_budget) if api_key is None else [api_key]
        for key in keys:
            self.drop_budget.pop(key, None)
            self._replace_timer(self._drop_timers.pop(key, None))

    # ---- delay ----------------------------------------------------------------------------------

    def set_delay(self, seconds: float, duration_s: float) -> None:
        self.delay_s = seconds
        self._replace_timer(self._delay_timer)
        self._delay_timer = self._loop.call_later(duration_s, self.end_delay)

    def end_delay(self) -> None:
        self.delay_s = 0.0
        self._delay_timer = self._replace_timer(self._delay_timer)

    # ---- partition ------------------------------------------------------------------------------

    def begin_partition(self, duration_s: float) -> bool:
        """Start (or extend) a partition; True if it was not partitioned before."""
        started = not self.partitioned
        self.partitioned = True
        self._replace_timer(self._partition_timer)
        self._partition_timer = self._loop.call_later(duration_s, self.end_partition)
        return started

    def end_partition(self) -> None:
        self._partition_timer = self._replace_timer(self._partition_timer)
        if self.partitioned:
            self.partitioned = False
            self._on_partition_end()

    # ---- all ------------------------------------------------------------------------------------

    def clear(self) -> None:
        self.end_drops()
        self.end_delay()
        self.end_partition()

    def describe(self) -> dict[str, Any]:
        """The faults in force, with the seconds each has left (empty when the network is healthy)."""
        now = self._loop.time()

        def left(timer: asyncio.TimerHandle | None) -> float | None:
            return round(max(0.0, timer.when() - now), 3) if timer else None

        active: dict[str, Any] = {}
        if self.drop_budget:
            active["drop"] = {api_name(key): {"responses": count, "expires_in_s": left(self._drop_timers.get(key))}
                              for key, count in self.drop_budget.items()}
        if self.delay_s:
            active["delay"] = {"seconds": self.delay_s, "ends_in_s": left(self._delay_timer)}
        if self.partitioned:
            active["partition"] = {"heals_in_s": left(self._partition_timer)}
        return active

    @staticmethod
    def _replace_timer(timer: asyncio.TimerHandle | None) -> None:
        if timer is not None:
            timer.cancel()
        return None
