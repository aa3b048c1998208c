"""The three-node cluster: status, replication, failover, pause, isolation and clear errors.

Specification: :class:`eoslab.broker.Cluster` starts three KRaft nodes (each broker and
controller) that replicate an RF=3 topic with an ISR of three; ``eoslab cluster status --json``
prints ``{"bootstrap": …, "nodes": [{"id", "pid", "port", "running"}, …]}``; killing a partition's
leader moves leadership to another replica of the ISR and an ``acks=all`` idempotent producer
goes on with every record delivered once; a paused node and an isolated node drop out of the ISR
within the configured lag time and come back once resumed or healed; a taken port, too little
memory, no Java and a node that dies during start each end in one line, within seconds.

One cluster is started for the module (on free ports, in a temporary state dir) and shared; the
tests that break a node put it back. Assumptions: Java 17+ and the cached Kafka jars.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from eoslab.broker import Cluster
from eoslab.broker.netutil import free_port_block
from eoslab.broker.properties import CLUSTER_REPLICA_LAG_MS, CLUSTER_SESSION_TIMEOUT_MS
from eoslab.broker.settings import ClusterPorts
from eoslab.clientlog import client_logger
from eoslab.errors import EoslabError
from eoslab.kafka.clients import unique_name
from eoslab.observe import wait_until

pytestmark = [pytest.mark.broker, pytest.mark.slow]

LAG_S = CLUSTER_REPLICA_LAG_MS / 1000
# How long an ISR change may take beyond the lag time: the leader checks every lag/2, then the
# controller applies the AlterPartition; the metadata reaches the client within a second or so.
ISR_MARGIN_S = 15.0
BACK_IN_ISR_S = 30.0


def rf3_topic(cluster: Cluster, min_isr: int = 2) -> str:
    name = unique_name("rf3")
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap, "logger": client_logger})
    admin.create_topics([NewTopic(name, 1, 3, config={"min.insync.replicas": str(min_isr)})])[name].result(timeout=30)
    assert wait_until(lambda: cluster.leader_of(name, 0) is not None, 20)
    return name


def produce(cluster: Cluster, topic: str, count: int, start: int = 0, timeout_s: float = 60) -> list[int]:
    """Produce ``count`` numbered records with acks=all and idempotence; the numbers acknowledged."""
    producer = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all", "enable.idempotence": True,
                         "delivery.timeout.ms": int(timeout_s * 1000), "logger": client_logger})
    acked: list[int] = []
    for n in range(start, start + count):
        producer.produce(topic, str(n).encode(), on_delivery=lambda err, msg: err is None and acked.append(
            int(msg.value())))
        producer.poll(0)
    assert producer.flush(timeout_s + 5) == 0, "records still in flight after the deadline"
    return acked


def views(cluster: Cluster, topic: str) -> dict[int, object]:
    """Each running node's own answer (leader, ISR), for failure messages."""
    found: dict[int, object] = {}
    for node in cluster.nodes:
        try:
            metadata = AdminClient({"bootstrap.servers": node.bootstrap, "logger": client_logger}).list_topics(
                topic, timeout=2)
            info = metadata.topics[topic].partitions[0]
            found[node.node_id] = (info.leader, sorted(info.isrs))
        except Exception as error:  # noqa: BLE001 - a diagnostic
            found[node.node_id] = str(error)[:60]
    return found


def wait_isr(cluster: Cluster, topic: str, expected: set[int], timeout_s: float) -> float:
    started = time.monotonic()
    assert wait_until(lambda: set(cluster.isr_of(topic, 0)) == expected, timeout_s, interval_s=0.25), (
        f"ISR of {topic} is {cluster.isr_of(topic, 0)}, not {sorted(expected)}, after {timeout_s:.0f} s; "
        f"each node's view (leader, ISR): {views(cluster, topic)}; cut off: {sorted(cluster.isolated())}")
    return time.monotonic() - started


def follower_of(cluster: Cluster, topic: str) -> int:
    leader = cluster.leader_of(topic, 0)
    return next(node for node in cluster.replicas_of(topic, 0) if node != leader)


def test_status_json_has_the_documented_shape(cluster: Cluster) -> None:
    env = {"EOSLAB_CLUSTER_STATE_DIR": str(cluster.state_dir), "EOSLAB_CLUSTER_PORT": str(cluster.ports.base),
           "PATH": str(Path(sys.executable).parent)}
    result = subprocess.run([sys.executable, "-m", "eoslab", "cluster", "status", "--json"], capture_output=True,
                            text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert status["bootstrap"] == cluster.bootstrap == ",".join(f"127.0.0.1:{cluster.ports.client(i)}" for i in (1, 2, 3))
    assert [node["id"] for node in status["nodes"]] == [1, 2, 3]
    for node in status["nodes"]:
        assert {"id", "pid", "port", "running"} <= set(node)
        assert node["running"] is True and isinstance(node["pid"], int) and node["port"] == cluster.ports.client(node["id"])


def test_an_rf3_topic_has_three_replicas_all_in_sync(cluster: Cluster) -> None:
    topic = rf3_topic(cluster)
    assert sorted(cluster.replicas_of(topic, 0)) == [1, 2, 3]
    wait_isr(cluster, topic, {1, 2, 3}, 15)
    assert produce(cluster, topic, 50) == list(range(50))
    assert wait_until(lambda: set(cluster.replica_offsets(topic).log_end.values()) == {50}, 10)
    offsets = cluster.replica_offsets(topic)
    assert offsets.high_watermark == 50 and offsets.leader in (1, 2, 3) and offsets.isr == [1, 2, 3]


def test_killing_the_leader_elects_one_from_the_isr_and_the_producer_goes_on(cluster: Cluster) -> None:
    topic = rf3_topic(cluster)
    assert produce(cluster, topic, 100) == list(range(100))
    leader = cluster.leader_of(topic, 0)
    isr_before = set(cluster.isr_of(topic, 0))
    assert leader is not None and isr_before == {1, 2, 3}
    cluster.kill(leader)
    try:
        assert not cluster.status().nodes[leader - 1].running
        assert wait_until(lambda: cluster.leader_of(topic, 0) not in (None, leader),
                          CLUSTER_SESSION_TIMEOUT_MS / 1000 + 15, interval_s=0.25)
        assert cluster.leader_of(topic, 0) in isr_before - {leader}
        acked = produce(cluster, topic, 100, start=100)  # min.insync=2 still met by the two left
        assert acked == list(range(100, 200))
        assert cluster.replica_offsets(topic).log_end[leader] == 100  # the dead node's files stop where it died
    finally:
        cluster.restart(leader)
    wait_isr(cluster, topic, {1, 2, 3}, BACK_IN_ISR_S)
    assert wait_until(lambda: cluster.replica_offsets(topic).log_end[leader] == 200, 15)


def test_a_paused_follower_drops_out_of_the_isr_and_comes_back(cluster: Cluster) -> None:
    topic = rf3_topic(cluster)
    produce(cluster, topic, 10)
    follower = follower_of(cluster, topic)
    cluster.pause(follower)
    try:
        assert cluster.status().nodes[follower - 1].paused
        took = wait_isr(cluster, topic, {1, 2, 3} - {follower}, LAG_S + ISR_MARGIN_S)
        print(f"paused node {follower} left the ISR after {took:.1f} s")
    finally:
        cluster.resume(follower)
    wait_isr(cluster, topic, {1, 2, 3}, BACK_IN_ISR_S)


def test_an_isolated_follower_drops_out_of_the_isr_and_rejoins_after_the_cut(cluster: Cluster) -> None:
    topic = rf3_topic(cluster)
    produce(cluster, topic, 10)
    follower = follower_of(cluster, topic)
    cluster.isolate(follower, 60)
    try:
        assert follower in cluster.isolated()
        took = wait_isr(cluster, topic, {1, 2, 3} - {follower}, LAG_S + ISR_MARGIN_S)
        print(f"isolated node {follower} left the ISR after {took:.1f} s")
        assert cluster.node(follower).is_running()  # cut off, not dead
        assert produce(cluster, topic, 10, start=10) == list(range(10, 20))  # the two left still take acks=all
        assert cluster.replica_offsets(topic).log_end[follower] == 10  # nothing reached it during the cut
    finally:
        cluster.heal(follower)
    assert not cluster.isolated()
    wait_isr(cluster, topic, {1, 2, 3}, BACK_IN_ISR_S)
    assert wait_until(lambda: cluster.replica_offsets(topic).log_end[follower] == 20, 10)


def test_a_cut_ends_by_itself(cluster: Cluster) -> None:
    cluster.isolate(3, 1.0)
    assert set(cluster.isolated()) == {3}
    assert wait_until(lambda: not cluster.isolated(), 3)


def test_isolation_is_bounded_and_refused_for_bad_input(cluster: Cluster) -> None:
    with pytest.raises(EoslabError, match="bounded"):
        cluster.isolate(1, 10_000)
    with pytest.raises(EoslabError, match="no node 7"):
        cluster.isolate(7, 5)


def test_a_taken_port_is_named_before_any_node_starts(tmp_path: Path) -> None:
    base = free_port_block(ClusterPorts(1024).size)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", base + 11))  # one of node 2's controller listeners
        holder.listen()
        started = time.monotonic()
        with pytest.raises(EoslabError, match=f"port {base + 11} on 127.0.0.1 is in use.*EOSLAB_CLUSTER_PORT="):
            Cluster(state_dir=tmp_path, base_port=base).start(timeout_s=30)
        assert time.monotonic() - started < 10
    assert not Cluster(state_dir=tmp_path, base_port=base).status().nodes[0].running


def test_too_little_memory_is_refused_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Cluster, "_available_memory_mb", staticmethod(lambda: 300.0))
    with pytest.raises(EoslabError, match=r"not enough memory for 3 cluster node\(s\): 300 MB free"):
        Cluster(state_dir=tmp_path, base_port=free_port_block(ClusterPorts(1024).size)).start(timeout_s=30)


def test_no_java_is_refused_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-java"))
    with pytest.raises(EoslabError, match="has no bin/java"):
        Cluster(state_dir=tmp_path, base_port=free_port_block(ClusterPorts(1024).size)).start(timeout_s=30)


def test_a_node_that_dies_during_start_is_named_with_its_last_log_line(tmp_path: Path) -> None:
    cluster = Cluster(state_dir=tmp_path, base_port=free_port_block(10), nodes=1)
    data = cluster.node(1).data_dir
    data.mkdir(parents=True)
    # A data dir formatted for another node: Kafka refuses to start on it.
    (data / "meta.properties").write_text("version=1\ncluster.id=abcdefghijklmnopqrstuv\nnode.id=7\n"
                                          "directory.id=ABCDEFGHIJKLMNOPQRSTUV\n")
    started = time.monotonic()
    with pytest.raises(EoslabError, match="cluster node 1 exited during start") as error:
        cluster.start(timeout_s=60)
    assert "node.id" in str(error.value) or "node id" in str(error.value), error.value
    assert time.monotonic() - started < 30
    assert "\n" not in str(error.value)
    assert not cluster.status().nodes[0].running and cluster.relay_pid() is None


def test_eoslab_cluster_returns_the_running_clusters_address(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    import eoslab
    from eoslab.errors import BrokerUnavailable

    monkeypatch.delenv("EOSLAB_CLUSTER_BOOTSTRAP", raising=False)
    monkeypatch.setenv("EOSLAB_CLUSTER_STATE_DIR", str(cluster.state_dir))
    monkeypatch.setenv("EOSLAB_CLUSTER_PORT", str(cluster.ports.base))
    assert eoslab.cluster() == cluster.bootstrap
    # An external cluster that does not answer is named, within seconds, with what to do.
    monkeypatch.setenv("EOSLAB_CLUSTER_BOOTSTRAP", f"127.0.0.1:{free_port_block(1)}")
    with pytest.raises(BrokerUnavailable, match="docker compose --profile cluster"):
        eoslab.cluster()
