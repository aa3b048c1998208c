"""Scoring for the knowledge checks: single choice, and multi-select with partial credit.

A quiz test cell ends with the score as its last expression; nbgrader reads a number there as
the cell's partial credit (between 0 and the cell's points). Feedback goes to stdout, never
stderr: nbgrader scores any cell that writes to stderr zero.

Multi-select scoring: each option is a true/false judgement. A right pick earns
``points / len(correct)``, a wrong pick costs the same, a missed one earns nothing; the score never
goes below zero. So ticking every box earns little, and a blank answer earns nothing.

An answer still left as the placeholder ``...`` (what a blank notebook holds, see
:mod:`eoslab.grading.stubs`) scores zero with a "not done yet" note instead of an error, so
Run All goes on past an unanswered question.
"""

from __future__ import annotations

from collections.abc import Iterable

from .unwritten import NOT_DONE_YET, is_placeholder


def _normalise(answer: object, options: str) -> set[str]:
    if isinstance(answer, str):
        picks = {answer.strip().lower()} if answer.strip() else set()
    elif isinstance(answer, Iterable):
        picks = {str(pick).strip().lower() for pick in answer}
    else:
        raise TypeError(f"an answer is a letter like 'b' or a set like {{'a', 'c'}}, not {answer!r}")
    unknown = picks - set(options)
    if unknown:
        raise ValueError(f"{sorted(unknown)} are not options here; choose from {', '.join(options)}")
    return picks


def _unanswered(example: str) -> float:
    print(f"{NOT_DONE_YET} — replace the ... in your answer cell with {example}, run it, then this cell again")
    return 0.0


def score_single(answer: object, correct: str, points: float = 1, options: str = "abcd",
                 explanation: str = "") -> float:
    """Full points for the one correct letter, zero otherwise; prints why."""
    if is_placeholder(answer):
        return _unanswered('a letter such as "b"')
    picks = _normalise(answer, options)
    earned = float(points) if picks == {correct} else 0.0
    print(("Correct. " if earned else f"Not quite: the answer is ({correct}). ") + explanation)
    return earned


def score_multi(answer: object, correct: Iterable[str], points: float = 2, options: str = "abcd",
                explanation: str = "") -> float:
    """Partial credit: right picks earn, wrong picks cost, floor at zero; prints why."""
    if is_placeholder(answer):
        return _unanswered('a set of letters such as {"a", "c"}')
    expected = set(correct)
    picks = _normalise(answer, options)
    step = float(points) / len(expected)
    earned = max(0.0, step * (len(picks & expected) - len(picks - expected)))
    verdict = "Correct. " if picks == expected else (
        f"Partly: the answer is {{{', '.join(sorted(expected))}}}. " if earned else
        f"Not quite: the answer is {{{', '.join(sorted(expected))}}}. ")
    print(verdict + explanation)
    return round(earned, 3)
