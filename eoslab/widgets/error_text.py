"""A worker's error in one readable line, with the raw text kept for whoever wants it.

Kafka client errors reach a panel as librdkafka's raw text, e.g.
``KafkaError{code=_FENCED,val=-144,str="Failed to flush: Local: This instance has been fenced by a
newer instance: Broker: Producer attempted to produce with an old epoch"}``. :func:`summarise_error`
names what happened in the course's words (fenced by a newer instance, timed out, …); the panel
shows that line and puts the raw text behind a disclosure. Unknown errors keep their own words,
shortened, never invented ones. :func:`explain_error` shows the same outside a panel: the line, and
the raw text behind a disclosure (a code demo's worker that ended in an error).
"""

from __future__ import annotations

import html
import re

_SUMMARY_CHARS = 120
# (pattern in the raw text, the line a learner reads). First match wins: the specific before the general.
KNOWN: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"ILLEGAL_GENERATION|UNKNOWN_MEMBER_ID|FENCED_INSTANCE_ID"),
     "refused by the group: its offsets carry an old generation (the group moved its partitions on while "
     "it was away), so it aborts its transaction — a zombie consumer, fenced"),
    (re.compile(r"_FENCED|PRODUCER_FENCED|INVALID_PRODUCER_EPOCH|fenced", re.I),
     "fenced: a newer instance with the same transactional.id took over, so this one may not write or "
     "commit any more (the zombie is stopped)"),
    (re.compile(r"TRANSACTION_TIMED_OUT|TXN_TIMED_OUT|transaction\.timeout", re.I),
     "transaction timed out: it stayed open longer than transaction.timeout.ms, so the coordinator aborted it"),
    (re.compile(r"_MSG_TIMED_OUT", re.I),
     "record timed out: not acknowledged within message.timeout.ms, so the client gave up on it"),
    (re.compile(r"did not return within|stuck", re.I),
     "stuck: a transactional call did not return in time; the worker exited and a new instance takes over"),
    (re.compile(r"_TIMED_OUT|TIMED_OUT|timed out|timeout", re.I),
     "timed out: the broker did not answer within the deadline"),
    (re.compile(r"max lifetime", re.I), "stopped itself: its maximum lifetime was reached"),
)
_INNER = re.compile(r'str="(?P<text>[^"]*)"')


def summarise_error(raw: str) -> str:
    """One line for ``raw`` (see the module docstring)."""
    for pattern, line in KNOWN:
        if pattern.search(raw):
            return line
    inner = _INNER.search(raw)
    text = " ".join((inner["text"] if inner else raw).split())
    return text if len(text) <= _SUMMARY_CHARS else text[: _SUMMARY_CHARS - 1] + "…"


class ExplainedError:
    """A worker's or client's error as a notebook shows it: the summary line, the raw text behind a
    disclosure (``<details>``). As text (``str()``, a plain-text front end) it is the summary alone."""

    def __init__(self, raw: str, name: str = "error") -> None:
        self.raw, self.name, self.summary = raw, name, summarise_error(raw)

    def __str__(self) -> str:
        return f"{self.name}: {self.summary}"

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        return (f"<div><b>{html.escape(self.name)}</b>: {html.escape(self.summary)}</div>"
                f"<details><summary>the raw error</summary><div style='white-space:pre-wrap;font-family:"
                f"monospace;font-size:11px'>{html.escape(self.raw)}</div></details>")


def explain_error(raw: str | None, name: str = "error") -> ExplainedError | str:
    """:class:`ExplainedError` for ``raw``; ``"<name>: no error"`` when there is none."""
    return ExplainedError(raw, name) if raw else f"{name}: no error"
