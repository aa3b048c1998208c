"""Free loopback ports, for tests and benchmarks that start their own broker or server."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import psutil

from .settings import LOOPBACK


def free_port() -> int:
    """A loopback port nothing listens on right now (the OS picks it)."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


BLOCK_SEARCH_FLOOR = 20000


def ephemeral_port_floor() -> int:
    """The lowest port the kernel hands out to outgoing connections (Linux: ip_local_port_range)."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default; macOS starts at 49152, so this is below it too
    return low if low > BLOCK_SEARCH_FLOOR + 1000 else 32768


def free_port_block(size: int = 4) -> int:
    """The first port of ``size`` consecutive free loopback ports (an embedded broker needs 4).

    The ports lie below the kernel's ephemeral range: a broker that is killed and started again
    must bind the same ports, and in the ephemeral range any outgoing connection on the machine may
    take one of them in the meantime ("Address already in use" on restart). The search starts at a
    place that depends on the pid, so sessions running side by side rarely race for the same block
    between this check and the broker's bind.
    """
    ceiling = ephemeral_port_floor()
    blocks = max(1, (ceiling - BLOCK_SEARCH_FLOOR) // size)
    start = BLOCK_SEARCH_FLOOR + (os.getpid() % blocks) * size
    for base in [*range(start, ceiling - size + 1, size), *range(BLOCK_SEARCH_FLOOR, start, size)]:
        try:
            for port in range(base, base + size):
                with socket.socket() as probe:
                    probe.bind((LOOPBACK, port))
            return base
        except OSError:
            continue
    raise RuntimeError(f"no free block of {size} loopback ports between {BLOCK_SEARCH_FLOOR} and {ceiling}; "
                       "stop brokers you no longer need (`eoslab broker stop`)")


def listener_pid(port: int) -> int | None:
    """The pid of whoever listens on ``port``, or None if nobody does or the system will not say."""
    try:
        for connection in psutil.net_connections(kind="tcp"):
            if connection.laddr and connection.laddr.port == port and connection.status == psutil.CONN_LISTEN:
                if connection.pid:
                    return int(connection.pid)
    except (psutil.Error, OSError):
        pass
    return None


def describe_listener(port: int) -> str:
    """' by <name> (pid N)' for whoever listens on ``port``, or '' if the system will not say."""
    pid = listener_pid(port)
    if pid is None:
        return ""
    try:
        return f" by {psutil.Process(pid).name()} (pid {pid})"
    except psutil.Error:
        return f" by pid {pid}"
