"""Run Apache Kafka: its jars from Maven Central, one KRaft node on loopback, and whether it is ready.

    from eoslab.broker import EmbeddedBroker
    broker = EmbeddedBroker()          # ports and state dir from the environment (see .settings)
    broker.start()                     # returns once metadata answers and a transaction commits
    broker.stop()

- :mod:`.jars` — Apache Kafka's jars fetched once by Maven (or ``KAFKA_HOME``), :data:`KAFKA_VERSION`;
- :mod:`.java` — a Java 17+ runtime, or one line saying how to get one;
- :mod:`.properties` — the broker's configuration, each setting with its reason;
- :mod:`.node` — :class:`EmbeddedBroker`: start, stop, hard kill, status, logs;
- :mod:`.cluster` — :class:`Cluster`: three such nodes in one KRaft quorum (kill, pause, isolate one;
  leaders, ISR and each replica's log end); :mod:`.relay` carries their inter-node links;
- :mod:`.segments` — record batch headers read from a node's segment files;
- :mod:`.readiness` — :func:`answers_metadata`, :func:`wait_until_ready` (every wait has a deadline);
- :mod:`.settings` — ports, state and cache directories, all on 127.0.0.1;
- :mod:`.netutil` — free loopback ports, and who holds a taken one.

This is the bottom of the package (only :mod:`eoslab.errors` and :mod:`eoslab.clientlog` are
below it): nothing here imports the rest of ``eoslab``.
"""

from .cluster import Cluster, ClusterStatus, NodeStatus, ReplicaOffsets, default_cluster
from .jars import KAFKA_VERSION, fetch_libs, find_libs
from .netutil import free_port, free_port_block
from .node import BrokerStatus, EmbeddedBroker, default_broker
from .readiness import answers_metadata, transactions_work, wait_until_ready
from .settings import LOOPBACK, BrokerPorts, ClusterPorts

__all__ = ["KAFKA_VERSION", "LOOPBACK", "BrokerPorts", "BrokerStatus", "Cluster", "ClusterPorts", "ClusterStatus",
           "EmbeddedBroker", "NodeStatus", "ReplicaOffsets", "answers_metadata", "default_broker", "default_cluster", "fetch_libs", "find_libs", "free_port", "free_port_block", "transactions_work",
           "wait_until_ready"]
