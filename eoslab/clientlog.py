"""Where the Kafka clients' own log lines go: a Python logger, never the notebook's stderr.

librdkafka writes its log to stderr unless it is given a logger. In a notebook that is noise; in
an nbgrader test cell it is worse: any stderr output scores the cell zero. Every client the course
makes logs to ``eoslab.librdkafka``; the last lines are kept in memory for :func:`recent_lines`.
"""

from __future__ import annotations

import collections
import logging

LOGGER_NAME = "eoslab.librdkafka"


class _RingHandler(logging.Handler):
    def __init__(self, capacity: int = 500) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: collections.deque[str] = collections.deque(maxlen=capacity)

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname} {record.getMessage()}")


_ring = _RingHandler()
client_logger = logging.getLogger(LOGGER_NAME)
client_logger.addHandler(_ring)
client_logger.setLevel(logging.INFO)
client_logger.propagate = False  # keep it off the root logger, whose last-resort handler is stderr


def recent_lines(count: int = 20) -> list[str]:
    """The last ``count`` lines the Kafka clients logged (most recent last)."""
    return list(_ring.lines)[-count:]
