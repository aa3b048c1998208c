"""Run independent checks at the same time, each bounded: :func:`side_by_side`.

A hidden test often makes several checks that do not depend on each other and spend most of their
time waiting (a copier run under kills, a deadline a function must wait out, a producer's first
acknowledgement). Run one after the other, their waits add up; run side by side, the slowest one
sets the time. Each call gets its own daemon thread; the results come back in the order of the
calls, so the assertions that follow read them exactly as they would after running one by one.

Guarantees: every call has ended (or the deadline has passed) before this returns; an exception
raised by a call is raised here, the first one in call order, once all calls have ended; a call
still running at the deadline raises ``TimeoutError`` naming it (its thread is left to finish on
its own: a daemon, it never keeps the process alive). Not for calls that change what the others
see (a module global rebound for the duration of one check): run those alone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from ..errors import EoslabError

DEFAULT_TIMEOUT_S = 60.0


def side_by_side(*calls: Callable[[], Any], timeout_s: float = DEFAULT_TIMEOUT_S) -> list[Any]:
    """Call each of ``calls`` (no arguments: wrap them in a lambda) in its own thread, all at once;
    return their results in order. Waits at most ``timeout_s`` in all."""
    if not calls or not all(callable(call) for call in calls):
        raise EoslabError("side_by_side() takes one or more callables without arguments, e.g. "
                          "side_by_side(lambda: check(1), lambda: check(2))")
    if not timeout_s > 0:
        raise EoslabError(f"side_by_side(timeout_s={timeout_s!r}): give a positive number of seconds")
    outcomes: list[tuple[bool, Any] | None] = [None] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        try:
            outcomes[index] = (True, call())
        except BaseException as raised:  # noqa: BLE001 - handed to the caller's thread below
            outcomes[index] = (False, raised)

    threads = [threading.Thread(target=run, args=(index, call), name=f"side-by-side-{index + 1}", daemon=True)
               for index, call in enumerate(calls)]
    deadline = time.monotonic() + timeout_s
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    for index, (thread, outcome) in enumerate(zip(threads, outcomes)):
        if outcome is None or thread.is_alive():
            name = getattr(calls[index], "__name__", "call")
            raise TimeoutError(f"check {index + 1} of {len(calls)} ({name}) did not finish within {timeout_s:g} s")
    results = []
    for succeeded, value in outcomes:  # type: ignore[misc] - every outcome is set here
        if not succeeded:
            raise value
        results.append(value)
    return results
