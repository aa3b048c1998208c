"""The one exception type the course raises on purpose.

An :class:`EoslabError` carries a single line a person can act on: what happened and what to do
about it. The command line prints it without a traceback; in a notebook, importing :mod:`eoslab`
installs a handler that shows it the same way (see :mod:`eoslab.notebook`).
"""

from __future__ import annotations


class EoslabError(Exception):
    """Something the learner or the machine must fix; the message says how."""


class BrokerUnavailable(EoslabError):
    """The Kafka broker named by KAFKA_BOOTSTRAP_SERVERS does not answer."""
