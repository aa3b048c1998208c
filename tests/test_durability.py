"""The durability demos and exactly-once under failover, on one three-node cluster.

Specification (issue 18, items 2 and 3), each demo both ways:

- a leader failover with both followers cut off: with ``acks=1`` the records acknowledged past the
  high watermark are gone once a follower still in the ISR leads; with ``acks=all`` and
  ``min.insync.replicas=2`` under the same fault, no acknowledged record is lost (the producer
  waited for the new leader);
- only an out-of-sync replica survives: unclean election off leaves the partition without a leader
  and loses nothing; on, the survivor leads at once and the records it never had are lost;
- transactions across a SIGKILL of the coordinator's node: read_committed returns every committed
  record once and no aborted one, while read_uncommitted does return the aborted ones;
- assignment 06's exactly-once copier (the reference worker) copying 20,000 records while the
  input's leader, the output's leader and the coordinator are killed in turn: output == input, no
  duplicates, order per partition kept;
- the durability panel: its button runs the failover demo and draws both results (the cluster put
  back afterwards); for a cluster the course does not run, its buttons are off and it says why;
- assignment 02's checks of a learner's settings: what is not a setting is refused in one line;
  with one node down, two of three in-sync replicas still take writes and three of three do not.

One cluster for the module (free ports, a temporary state dir); every demo puts the cluster back.
Assumptions: Java 17+ and the cached Kafka jars.
"""

from __future__ import annotations

import time

import pytest

from eoslab.broker import Cluster
from eoslab.errors import EoslabError
from eoslab.widgets import DurabilityPanel
from eoslab.workers import (compare_acks, compare_unclean_election, durable_settings, leader_failover,
                            run_pipeline_under_failover, settings_with_one_node_down, transaction_across_coordinator_kill)

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def test_acks_1_loses_acknowledged_records_in_a_failover_and_acks_all_does_not(cluster: Cluster) -> None:
    one, every = compare_acks(cluster, baseline=20, records=20)
    during = list(range(20, 40))
    # acks=1: acknowledged past the high watermark, then gone.
    assert one.acked_before_kill == during
    assert one.before_kill.log_end[one.old_leader] == 40 and one.before_kill.high_watermark == 20
    assert one.new_leader in one.before_kill.isr and one.new_leader != one.old_leader
    assert one.lost == during, one.describe()
    assert one.present == list(range(20))
    assert one.after.log_end[one.old_leader] == 40  # the dead leader's files still hold them
    assert "20 acknowledged records no longer exist" in one.describe()
    # acks=all + min.insync.replicas=2, the same fault: nothing acknowledged is lost.
    assert every.acked_before_kill == []  # the producer waited: the ISR (all three) did not have them
    assert every.lost == [], every.describe()
    assert set(every.acked) <= set(every.present)
    assert every.waited == during and not every.errors
    assert every.after.high_watermark == 40
    assert "No acknowledged record was lost" in every.describe() and "waited" in every.describe()


def test_unclean_election_off_is_unavailable_and_on_is_available_with_loss(cluster: Cluster) -> None:
    off, on = compare_unclean_election(cluster, baseline=10, records=20)
    out_of_sync = list(range(10, 30))
    for result in (off, on):
        assert result.acked_out_of_sync == out_of_sync
        assert result.before_kill.isr == [result.leader]
        assert result.before_kill.log_end[result.survivor] == 10
    assert off.waited_for_old_leader and off.unavailable_s >= 10 and off.lost == [], off.describe()
    assert off.after_election.leader is None
    assert on.leader_after == on.survivor and on.lost == out_of_sync, on.describe()
    assert on.available_with_loss and on.after.log_end[on.leader] == 10  # the old leader truncated
    assert "unavailable" in off.describe() and "20 acknowledged records were lost" in on.describe()


def test_a_transaction_across_a_coordinator_kill_is_seen_once_by_read_committed(cluster: Cluster) -> None:
    result = transaction_across_coordinator_kill(cluster, records_per_transaction=10)
    assert result.new_coordinator not in (None, result.coordinator)
    assert result.outcomes["before"] == result.outcomes["after"] == "committed"
    assert result.outcomes["aborted"] == "aborted"
    assert result.exactly_once and result.duplicates == 0, result.describe()
    assert result.aborted_visible == []
    # Without read_committed the aborted records are there to be read.
    assert set(result.aborted_ids) <= set(result.read_uncommitted)
    assert sorted(result.read_committed) == result.committed_ids and len(result.committed_ids) >= 30


def test_a_demo_refuses_a_setting_that_is_not_one(cluster: Cluster) -> None:
    with pytest.raises(EoslabError, match="acks='2'"):
        leader_failover(cluster, acks="2")


def test_the_exactly_once_copier_survives_leader_and_coordinator_kills(cluster: Cluster) -> None:
    started = time.monotonic()
    result = run_pipeline_under_failover(cluster, records=20_000, partitions=2, records_per_transaction=500,
                                         timeout_s=240)
    print(result.describe(), f"({time.monotonic() - started:.1f} s)")
    assert [k.target for k in result.kills] == ["input_leader", "output_leader", "coordinator"]
    assert all(k.mid_copy for k in result.kills), result.describe()
    assert result.report.received == 20_000
    assert result.duplicates == 0 and result.lost == 0 and not result.report.out_of_order, result.describe()
    assert result.exactly_once


def test_the_durability_panel_draws_the_acks_1_loss_and_no_loss_for_acks_all(cluster: Cluster) -> None:
    panel = DurabilityPanel(cluster)
    try:
        panel.buttons["failover"].click()
        assert all(button.disabled for button in panel.buttons.values()), "one demo at a time"
        panel.wait_until_idle(180)
        (name, (one, every)), = panel.results
        assert name == "failover" and one.lost and not every.lost, (one.describe(), every.describe())
        drawing = panel.pictures.children[0].value
        assert "acks=1" in drawing and "acknowledged records no longer exist" in drawing
        assert "No acknowledged record was lost" in drawing and drawing.count("eos-rep") >= 4  # four pictures
        assert not any(button.disabled for button in panel.buttons.values())
        assert "paused" not in panel.status_text() and "down" not in panel.status_text()  # the cluster put back
    finally:
        panel.close()


def test_the_durability_panel_says_plainly_that_it_cannot_break_a_cluster_it_does_not_run() -> None:
    panel = DurabilityPanel(None)
    try:
        assert all(button.disabled for button in panel.buttons.values())
        assert "not one the course runs" in panel.notice.value
        with pytest.raises(EoslabError, match="cannot kill or pause"):
            panel.run("failover")
    finally:
        panel.close()


def test_settings_are_refused_in_one_line_when_they_are_not_settings() -> None:
    for replication_factor, topic, producer, message in [
            (4, {}, {}, "replication factor 4: this cluster has 3 nodes"),
            ("3", {}, {}, "whole number"), (True, {}, {}, "whole number"),
            (3, [("min.insync.replicas", "2")], {}, "topic configuration is a dict"),
            (3, {}, None, "producer configuration is a dict")]:
        with pytest.raises(EoslabError, match=message):
            durable_settings(replication_factor, topic, producer)
    settings = durable_settings(3, {"min.insync.replicas": 2, "unclean.leader.election.enable": False},
                                {"acks": "all", "bootstrap.servers": "elsewhere:9092"})
    assert settings.topic_config == {"min.insync.replicas": "2", "unclean.leader.election.enable": "false"}
    assert "bootstrap.servers" not in settings.producer_config


def test_one_node_down_leaves_two_of_three_writable_and_three_of_three_not(cluster: Cluster) -> None:
    two = settings_with_one_node_down(durable_settings(3, {"min.insync.replicas": "2"}, {"acks": "all"}), cluster)
    assert two.writable and two.leader_after not in (None, two.killed), two.describe()
    three = settings_with_one_node_down(durable_settings(3, {"min.insync.replicas": "3"}, {"acks": "all"}), cluster)
    assert not three.writable and three.acked == [] and three.errors, three.describe()
    assert three.leader_after is not None  # a leader was elected: the partition is there, it refuses to take writes


def test_a_second_holder_of_the_cluster_waits_for_the_first_and_gives_up_in_one_line(tmp_path) -> None:
    import threading

    idle = Cluster(state_dir=tmp_path / "cluster", base_port=1024)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with idle.exclusive():
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(5)
        started = time.monotonic()
        with pytest.raises(EoslabError, match="another demo or grading run has been breaking the cluster"):
            with idle.exclusive(timeout_s=1.0):
                pass
        assert time.monotonic() - started < 3
    finally:
        release.set()
        holder.join(5)
    with idle.exclusive(timeout_s=5.0):
        pass  # free again once the first holder let go


def test_a_demo_brings_back_a_node_an_interrupted_demo_left_paused_and_adopts_a_lost_pid_file(cluster: Cluster) -> None:
    from eoslab.workers.durability import require_cluster

    cluster.pause(3)  # as a demo stopped with the kernel's stop button between pause and resume leaves it
    with cluster.exclusive():
        require_cluster(cluster)
    assert not any(node.paused or not node.running for node in cluster.status().nodes)
    pid = cluster.node(2).pid()
    cluster.node(2).pid_file.unlink()  # a process that launched the JVM died before recording it
    assert cluster.node(2).pid() == pid and cluster.node(2).pid_file.read_text().strip() == str(pid)


def test_an_isr_below_min_insync_replicas_refuses_writes_with_not_enough_replicas(cluster: Cluster) -> None:
    """The refusal, not the wait: without retries the broker's own answer reaches the delivery report."""
    refused = settings_with_one_node_down(
        durable_settings(3, {"min.insync.replicas": "3"}, {"acks": "all", "retries": 0}), cluster)
    assert refused.acked == [] and set(refused.errors.values()) == {"NOT_ENOUGH_REPLICAS"}, refused.describe()
    assert "NOT_ENOUGH_REPLICAS" in refused.describe()
