"""The per-replica picture: the high watermark is drawn as what the ISR has, not the log end.

Specification: for a partition, each replica's row shows its log end; the leader and the ISR are
marked; cells below the high watermark are drawn as in every ISR replica, those past it as not;
the HW line sits at the high watermark even when the leader's log ends further on. No broker.
"""

from __future__ import annotations

import re

from eoslab.broker import ReplicaOffsets
from eoslab.observe import render_replicas_html, render_replicas_text, replica_picture

# The moment before the leader dies in the acks=1 demo: the leader has 40, the followers 20.
BEFORE_KILL = ReplicaOffsets("orders", 0, {1: 40, 2: 20, 3: 20}, 20, 1, [1, 2, 3])


def rows(page: str) -> list[str]:
    return re.findall(r'<div class="row[^"]*">.*?<div class="end">log end \d+</div></div>', page)


def test_the_hw_line_is_at_what_the_isr_has_not_at_the_leaders_log_end() -> None:
    page = render_replicas_html(BEFORE_KILL)
    assert "HW&nbsp;20" in page and "HW&nbsp;40" not in page
    leader, follower, _ = rows(page)
    assert "leader" in leader and "ISR" in leader and "log end 40" in leader
    assert leader.count('class="cell hw-ok"') == 20 and leader.count('class="cell past"') == 20
    assert follower.count('class="cell hw-ok"') == 20 and follower.count('class="cell past"') == 0
    assert all(row.count('class="hwline"') == 1 for row in rows(page))  # one HW line, across every row


def test_out_of_sync_and_dead_replicas_are_marked_and_long_logs_are_grouped() -> None:
    after = ReplicaOffsets("orders", 0, {1: 4000, 2: 2000, 3: None}, 2000, 2, [2])
    text = render_replicas_text(after, down=[1])
    assert "node 1 [out of ISR, down]" in text and "node 2 [leader, ISR]" in text and "node 3" not in text
    assert "one mark per" in text
    page = render_replicas_html(after, down=[1])
    first, second = rows(page)
    assert first.startswith('<div class="row out">') and "down" in first
    assert len(re.findall(r'class="cell ', page)) <= 2 * 61
    assert "high watermark 2000</b>" in page


def test_no_leader_means_no_high_watermark_line() -> None:
    leaderless = ReplicaOffsets("orders", 0, {1: 30, 2: 10}, None, None, [])
    picture = replica_picture(leaderless, badge="after the kill")
    assert 'class="hwline"' not in picture._repr_html_() and "after the kill" in picture._repr_html_()
    assert "none (no leader)" in str(picture)
