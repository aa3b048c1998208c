"""One client's librdkafka debug log, kept in memory so a demo can print the lines that prove a claim.

``DebugLog("eos,protocol").config()`` is ``{"debug": "eos,protocol", "logger": <a logger of its
own>}``: merge it into one client's configuration and that client's debug lines are kept here
(never on stderr, which would score an nbgrader cell zero), apart from every other client's.
03-idempotent-producer uses it (``from eoslab.observe import DebugLog``) to show the epoch bump librdkafka's idempotent producer makes by
itself after a timeout (a drain and a local bump, no InitProducerId request: KIP-360).
"""

from __future__ import annotations

import logging
import threading
import uuid
from typing import Any


class DebugLog(logging.Handler):
    """The debug lines of the client(s) configured with :meth:`config`, in arrival order."""

    def __init__(self, contexts: str = "eos") -> None:
        super().__init__(level=logging.DEBUG)
        self.contexts = contexts
        self._lines: list[str] = []
        self._lock_lines = threading.Lock()
        self.logger = logging.getLogger(f"eoslab.librdkafka.debug.{uuid.uuid4().hex[:8]}")
        self.logger.setLevel(logging.DEBUG)
        self.logger.propagate = False  # off the root logger, whose last-resort handler is stderr
        self.logger.addHandler(self)

    def config(self) -> dict[str, Any]:
        """The two configuration keys that send a client's debug log here."""
        return {"debug": self.contexts, "logger": self.logger}

    def emit(self, record: logging.LogRecord) -> None:
        with self._lock_lines:
            self._lines.append(record.getMessage())

    def __len__(self) -> int:
        with self._lock_lines:
            return len(self._lines)

    def lines(self, *words: str, since: int = 0) -> list[str]:
        """Lines from number ``since`` on that contain any of ``words`` (all lines without words),
        each shortened to what follows librdkafka's ``[thrd:…]:`` prefix."""
        with self._lock_lines:
            kept = self._lines[since:]
        chosen = [line for line in kept if not words or any(word in line for word in words)]
        return [_short(line) for line in chosen]


def _short(line: str) -> str:
    facility = line.split(" ", 1)[0]
    _, _, text = line.partition("]: ")
    return f"{facility}: {text.strip()}" if text else line
