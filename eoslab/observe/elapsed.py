"""A progress bar for a call that reports no progress of its own: it fills with the time elapsed.

    with progress_while("acks=1 against acks=all", expected_s=30):
        one, every = compare_acks(cluster)

The durability demos wait on Kafka (a failover, a follower leaving the ISR) and cannot say how far
along they are; the bar moves with the clock towards the expected time, stops short of the end
until the call returns, and then completes. It runs in a daemon thread that ends with the block.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

TICK_S = 0.5
NOT_QUITE = 0.95  # the bar's share while the call still runs past its expected time


@contextmanager
def progress_while(label: str, expected_s: float) -> Iterator[None]:
    """Show a tqdm bar (a widget in a notebook) for ``expected_s`` seconds, or until the block ends."""
    from tqdm.auto import tqdm

    steps = max(1, int(expected_s / TICK_S))
    bar = tqdm(total=steps, desc=label, bar_format="{desc}: {bar} {elapsed}", leave=True)
    done = threading.Event()

    def tick() -> None:
        started = time.monotonic()
        while not done.wait(TICK_S):
            share = min(NOT_QUITE, (time.monotonic() - started) / expected_s)
            bar.n = int(share * steps)
            bar.refresh()

    ticker = threading.Thread(target=tick, name="progress-while", daemon=True)
    ticker.start()
    try:
        yield
        bar.n = steps
    finally:
        done.set()
        ticker.join(2 * TICK_S)
        bar.refresh()
        bar.close()


__all__ = ["progress_while"]
