"""Free loopback ports, for tests and benchmarks that start their own broker or server."""

from __future__ import annotations

import os
import socket

import psutil

from .settings import LOOPBACK


def free_port() -> int:
    """A loopback port nothing listens on right now (the OS picks it)."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def free_port_block(size: int = 4) -> int:
    """The first port of ``size`` consecutive free loopback ports (an embedded broker needs 4).

    The search starts at a place that depends on the pid, so sessions running side by side rarely
    race for the same block between this check and the broker's bind.
    """
    start = 29100 + (os.getpid() % 2000) * size
    for base in [*range(start, 40000, size), *range(29100, start, size)]:
        try:
            for port in range(base, base + size):
                with socket.socket() as probe:
                    probe.bind((LOOPBACK, port))
            return base
        except OSError:
            continue
    raise RuntimeError("no free block of loopback ports between 29100 and 40000")


def describe_listener(port: int) -> str:
    """' by <name> (pid N)' for whoever listens on ``port``, or '' if the system will not say."""
    try:
        for connection in psutil.net_connections(kind="tcp"):
            if connection.laddr and connection.laddr.port == port and connection.status == psutil.CONN_LISTEN:
                if connection.pid:
                    return f" by {psutil.Process(connection.pid).name()} (pid {connection.pid})"
    except (psutil.Error, OSError):
        pass
    return ""
