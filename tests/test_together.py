"""side_by_side (eoslab/lessons/together.py): a hidden test's independent checks at once, each bounded.

No broker: plain functions that sleep, return or raise. What the hidden tests of 00 and 06 rely on:
results in call order, the waits overlap (the slowest sets the time), an exception reaches the
caller (the first in call order, after every call ended), and a call that does not end is a
TimeoutError at the deadline instead of a hang.
"""

from __future__ import annotations

import time

import pytest

from eoslab.errors import EoslabError
from eoslab.lessons import side_by_side


def test_results_come_back_in_call_order_and_the_waits_overlap() -> None:
    started = time.monotonic()
    results = side_by_side(lambda: time.sleep(0.4) or "slow", lambda: "fast", lambda: time.sleep(0.2) or 3)
    elapsed = time.monotonic() - started
    assert results == ["slow", "fast", 3]
    assert elapsed < 0.75, f"three calls sleeping 0.4 s and 0.2 s took {elapsed:.2f} s: they did not overlap"


def test_the_first_exception_in_call_order_is_raised_after_every_call_ended() -> None:
    ended = []

    def fails_late() -> None:
        time.sleep(0.2)
        ended.append("late")
        raise AssertionError("first in order")

    def fails_early() -> None:
        ended.append("early")
        raise ValueError("second in order")

    with pytest.raises(AssertionError, match="first in order"):
        side_by_side(fails_late, fails_early)
    assert sorted(ended) == ["early", "late"]


def test_a_call_that_does_not_end_is_a_timeout_naming_it() -> None:
    def hangs() -> None:
        time.sleep(5)

    started = time.monotonic()
    with pytest.raises(TimeoutError, match=r"check 2 of 2 \(hangs\) did not finish within 0.3 s"):
        side_by_side(lambda: 1, hangs, timeout_s=0.3)
    assert time.monotonic() - started < 1.5


@pytest.mark.parametrize("calls, timeout_s", [((), 1.0), ((1,), 1.0), ((lambda: 1,), 0)])
def test_bad_arguments_are_one_line_errors(calls: tuple, timeout_s: float) -> None:
    with pytest.raises(EoslabError):
        side_by_side(*calls, timeout_s=timeout_s)
