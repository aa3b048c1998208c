"""Where things live and which ports they use, read once from the environment.

Every address and directory the course uses comes from here, so notebooks, the command line and
the tests agree. Everything binds to 127.0.0.1: the course never listens on another interface.

Environment variables (all optional):

``KAFKA_BOOTSTRAP_SERVERS``
    The broker every notebook talks to. Unset: the embedded broker on ``127.0.0.1:9092``.
``EOSLAB_BROKER_PORT``
    The embedded broker's client port (default 9092). It also uses the next three ports: the
    controller (+1), the listener behind the fault proxy (+2) and the fault proxy itself (+3).
``EOSLAB_STATE_DIR``
    The embedded broker's data, logs and pid file (default ``~/.local/state/eoslab/broker``).
``EOSLAB_CACHE_DIR``
    Where the broker jars are cached per Kafka version (default ``~/.cache/eoslab``).
``EOSLAB_PROXY_ADDRESS`` / ``EOSLAB_PROXY_UPSTREAM``
    Where the fault proxy listens and where it forwards to, for a broker the course did not start
    (docker compose). Default: port+3 and port+2 of the broker's port.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

LOOPBACK = "127.0.0.1"
DEFAULT_BROKER_PORT = 9092


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser() if value else default


def cache_dir() -> Path:
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return _env_path("EOSLAB_CACHE_DIR", base / "eoslab")


def default_state_dir() -> Path:
    xdg = os.environ.get("XDG_STATE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "state"
    return _env_path("EOSLAB_STATE_DIR", base / "eoslab" / "broker")


def default_broker_port() -> int:
    raw = os.environ.get("EOSLAB_BROKER_PORT", str(DEFAULT_BROKER_PORT))
    try:
        port = int(raw)
    except ValueError:
        from .errors import EoslabError

        raise EoslabError(f"EOSLAB_BROKER_PORT={raw!r} is not a port number; set it to e.g. 9192") from None
    return port


@dataclass(frozen=True)
class BrokerPorts:
    """The four loopback ports of one embedded broker, derived from its client port."""

    client: int

    @property
    def controller(self) -> int:
        return self.client + 1

    @property
    def proxied(self) -> int:
        """The broker's second listener; only the fault proxy connects here."""
        return self.client + 2

    @property
    def proxy(self) -> int:
        """Where the fault proxy listens; the second listener advertises this port."""
        return self.client + 3

    @property
    def bootstrap(self) -> str:
        return f"{LOOPBACK}:{self.client}"

    def all(self) -> tuple[int, int, int]:
        """The ports the JVM itself binds (the proxy port belongs to the proxy)."""
        return (self.client, self.controller, self.proxied)
