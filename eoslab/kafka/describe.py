"""Which broker the course is talking to, in words a learner can trust.

:func:`broker_in_use` says whether the address (``KAFKA_BOOTSTRAP_SERVERS`` or the default) is the
course's own embedded broker or one it did not start (docker compose, a class cluster), how many
brokers answer there, and the Kafka version where it is known: the embedded broker runs the jars of
:data:`eoslab.broker.KAFKA_VERSION`; a broker the course did not start does not tell a client its
release (Kafka's protocol reports API versions, not a release number), so the text says so instead
of guessing. :func:`client_versions` names the Python client and the librdkafka under it.

Guarantees: every call returns within its timeout (metadata has a deadline); nothing is started.
"""

from __future__ import annotations

from dataclasses import dataclass

import confluent_kafka
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from ..broker import KAFKA_VERSION, EmbeddedBroker
from ..clientlog import client_logger
from .connect import ENV_VAR, configured_bootstrap

DESCRIBE_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class BrokerInUse:
    bootstrap: str
    embedded: bool             # the course's own broker, which `eoslab broker …` starts and stops
    kafka_version: str | None  # known for the embedded broker only
    brokers: int               # how many brokers the cluster's metadata lists (0: none answered)
    from_environment: bool     # the address came from KAFKA_BOOTSTRAP_SERVERS

    def describe(self) -> str:
        if self.embedded:
            return f"Apache Kafka {self.kafka_version}, the course's embedded broker at {self.bootstrap}"
        if not self.brokers and not self.from_environment:
            return (f"nothing answers at {self.bootstrap}: the course's embedded broker is not running "
                    f"(start it with `eoslab broker start`)")
        where = f"{self.bootstrap} ({ENV_VAR})" if self.from_environment else self.bootstrap
        count = f"{self.brokers} broker{'s' if self.brokers != 1 else ''}" if self.brokers else "no broker answering"
        return (f"an external broker (not started by the course) at {where}: {count}; its Kafka version is not "
                f"reported to clients (the course is tested with Apache Kafka {KAFKA_VERSION})")


def broker_in_use(timeout_s: float = DESCRIBE_TIMEOUT_S) -> BrokerInUse:
    """Describe the broker at the course's address (see the module docstring); starts nothing."""
    embedded = EmbeddedBroker()
    configured = configured_bootstrap()
    address = configured or embedded.bootstrap
    ours = embedded.is_running() and address in (embedded.bootstrap, f"localhost:{embedded.ports.client}")
    admin = AdminClient({"bootstrap.servers": address, "logger": client_logger,
                         "socket.connection.setup.timeout.ms": max(1000, int(timeout_s * 1000))})
    try:
        brokers = len(admin.list_topics(timeout=timeout_s).brokers)
    except KafkaException:
        brokers = 0
    return BrokerInUse(address, ours, KAFKA_VERSION if ours else None, brokers, configured is not None)


def client_versions() -> str:
    """'confluent-kafka 2.16.1, librdkafka 2.16.0' (``version()`` is a string in 2.x, a tuple before)."""
    version = confluent_kafka.version()
    python_client = version if isinstance(version, str) else version[0]
    return f"confluent-kafka {python_client}, librdkafka {confluent_kafka.libversion()[0]}"
