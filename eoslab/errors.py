"""The one exception type the course raises on purpose.

An :class:`EoslabError` carries a single line a person can act on: what happened and what to do
about it. The command line prints it without a traceback. In a notebook, IPython asks an exception for
``_render_traceback_()`` before formatting a traceback, so the cell shows the one line in red and
still fails as an error (nbgrader and nbval see a failed cell, as they must).
"""

from __future__ import annotations


class EoslabError(Exception):
    """Something the learner or the machine must fix; the message says how."""

    def _render_traceback_(self) -> list[str]:
        return [f"\x1b[31m{type(self).__name__}: {self}\x1b[0m"]


class BrokerUnavailable(EoslabError):
    """The Kafka broker named by KAFKA_BOOTSTRAP_SERVERS does not answer."""
