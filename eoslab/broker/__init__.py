"""The embedded Apache Kafka broker: jars from Maven Central, one KRaft node on loopback."""

from .jars import KAFKA_VERSION, fetch_libs, find_libs
from .node import BrokerStatus, EmbeddedBroker, default_broker

__all__ = ["KAFKA_VERSION", "BrokerStatus", "EmbeddedBroker", "default_broker", "fetch_libs", "find_libs"]
