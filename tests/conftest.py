"""Test fixtures: one real Apache Kafka broker for the whole session.

If ``KAFKA_BOOTSTRAP_SERVERS`` names a broker, the tests use it (after checking it answers);
otherwise the session starts its own embedded broker — through the same code as
``eoslab broker start`` — on free loopback ports and a temporary state dir, so it never touches a
learner's broker, and stops it at the end. The environment is set so that notebook kernels and
worker processes started by the tests find the same broker.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from eoslab.broker import Cluster, EmbeddedBroker
from eoslab.kafka.clients import create_topics, delete_topics, unique_name
from eoslab.broker.netutil import ephemeral_port_floor, free_port_block
from eoslab.broker.readiness import answers_metadata
from eoslab.broker.settings import ClusterPorts
from eoslab.workers import Worker

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def session_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker | None]:
    """The embedded broker the session started, or None when KAFKA_BOOTSTRAP_SERVERS names one."""
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        if not answers_metadata(external, 10):
            pytest.exit(f"KAFKA_BOOTSTRAP_SERVERS={external} does not answer", returncode=3)
        yield None
        return
    broker = EmbeddedBroker(state_dir=tmp_path_factory.mktemp("broker"), port=free_port_block())
    broker.start(quiet=True)
    saved = {key: os.environ.get(key) for key in ("KAFKA_BOOTSTRAP_SERVERS", "EOSLAB_BROKER_PORT", "EOSLAB_STATE_DIR")}
    os.environ.update(KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap, EOSLAB_BROKER_PORT=str(broker.ports.client),
                      EOSLAB_STATE_DIR=str(broker.state_dir))
    try:
        yield broker
    finally:
        broker.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _notebook_cluster_port() -> int:
    """A free block for the notebooks' cluster, counted down from the top of the non-ephemeral ports
    (one block per xdist worker): free_port_block() searches upwards from a place set by the pid,
    and would hand the same still-unbound block to a test module's own cluster."""
    size = ClusterPorts(1024).size
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").lstrip("gw") or 0)
    for base in range(ephemeral_port_floor() - size * (1 + worker), 1024, -size * 8):
        if all(_port_is_free(port) for port in range(base, base + size)):
            return base
    raise RuntimeError("no free block of loopback ports for the notebooks' cluster")


def _port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


@pytest.fixture(scope="session", autouse=True)
def notebook_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Where a notebook's ``eoslab.cluster()`` starts the course's cluster during the tests: free
    ports and a temporary state dir per test process, never a learner's cluster. Nothing starts
    here; the first notebook that needs it starts it, and the session stops it at the end."""
    if os.environ.get("EOSLAB_CLUSTER_BOOTSTRAP"):
        yield  # the tests were pointed at a cluster of their own
        return
    saved = {key: os.environ.get(key) for key in ("EOSLAB_CLUSTER_PORT", "EOSLAB_CLUSTER_STATE_DIR")}
    os.environ.update(EOSLAB_CLUSTER_PORT=str(_notebook_cluster_port()),
                      EOSLAB_CLUSTER_STATE_DIR=str(tmp_path_factory.mktemp("notebook-cluster")))
    try:
        yield
    finally:
        Cluster().stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="session")
def kafka_bootstrap(session_broker: EmbeddedBroker | None) -> str:
    return os.environ["KAFKA_BOOTSTRAP_SERVERS"]


@pytest.fixture
def controlled_broker(session_broker: EmbeddedBroker | None) -> EmbeddedBroker:
    """The session's broker, for tests that crash or restart it (needs the embedded broker)."""
    if session_broker is None:
        pytest.skip("needs the embedded broker: unset KAFKA_BOOTSTRAP_SERVERS to run broker-fault tests")
    return session_broker


@pytest.fixture
def topic(kafka_bootstrap: str) -> Iterator[str]:
    """A fresh single-partition topic, deleted afterwards."""
    name = create_topics([unique_name("test")])[0]
    yield name
    delete_topics([name])


@pytest.fixture
def workers() -> Iterator[list[Worker]]:
    """Every worker a test starts is appended here and killed afterwards, pass or fail."""
    started: list[Worker] = []
    yield started
    for worker in started:
        worker.close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A three-node cluster on free ports for one test module (started once, shared by its tests)."""
    started = time.monotonic()
    cluster = Cluster(state_dir=tmp_path_factory.mktemp("cluster"), base_port=free_port_block(ClusterPorts(1024).size))
    cluster.start(timeout_s=120)
    print(f"cluster ready after {time.monotonic() - started:.1f} s")
    try:
        yield cluster
    finally:
        cluster.stop()
