"""Test fixtures: one real Apache Kafka broker for the whole session.

If ``KAFKA_BOOTSTRAP_SERVERS`` names a broker, the tests use it (after checking it answers);
otherwise the session starts its own embedded broker — through the same code as
``eoslab broker start`` — on free loopback ports and a temporary state dir, so it never touches a
learner's broker, and stops it at the end. The environment is set so that notebook kernels and
worker processes started by the tests find the same broker.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from eoslab.broker import EmbeddedBroker
from eoslab.clients import create_topics, delete_topics, unique_name
from eoslab.netutil import free_port_block
from eoslab.readiness import answers_metadata
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
