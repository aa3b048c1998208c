"""Port blocks for brokers that are killed and started again lie below the kernel's ephemeral range.

A broker restarted after SIGKILL binds the same ports again. Ports in the ephemeral range can be
taken in the meantime by any outgoing connection on the machine; that made the broker-crash test
fail with "Address already in use" on a busy machine.
"""

from __future__ import annotations

import socket

from eoslab.broker.netutil import BLOCK_SEARCH_FLOOR, ephemeral_port_floor, free_port_block


def test_a_port_block_is_free_and_below_the_ephemeral_range() -> None:
    base = free_port_block(4)
    assert BLOCK_SEARCH_FLOOR <= base and base + 4 <= ephemeral_port_floor(), base
    for port in range(base, base + 4):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", port))  # raises if the block was not free


def test_a_taken_block_is_skipped() -> None:
    base = free_port_block(4)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", base + 2))
        holder.listen()
        other = free_port_block(4)
    assert not (other <= base + 2 < other + 4), (base, other)
