"""Talk to Kafka: find the broker's address, and make clients that keep librdkafka's log off stderr.

    from eoslab.kafka import bootstrap, make_producer, create_topics, unique_name
    topic = create_topics([unique_name("demo")])[0]
    producer = make_producer({"enable.idempotence": True})   # the address is filled in

- :func:`bootstrap` — ``KAFKA_BOOTSTRAP_SERVERS`` if set (checked to answer), else the embedded
  broker, started on demand; :func:`cluster_bootstrap` — the same for the three-node cluster
  (``EOSLAB_CLUSTER_BOOTSTRAP`` or :class:`eoslab.broker.Cluster`); :func:`controlled_broker` — that broker, if the course runs it (faults
  such as a hard restart need one); :func:`proxy_addresses` — where the fault proxy listens;
  :func:`broker_in_use` — embedded or not, and its version where known; :func:`client_versions`.
- :func:`make_producer`, :func:`make_consumer`, :func:`make_admin` — clients with the address and a
  quiet logger added, never a delivery setting: the configuration a lesson is about is passed
  explicitly. :func:`create_topics`, :func:`delete_topics`, :func:`temporary_topics`,
  :func:`unique_name` for the topics, groups and transactional ids each demo owns;
  :func:`delete_created_topics` deletes what this process created and did not delete (grading runs
  it in place of the clean-up cells it skips with the demos).
"""

from .clients import (TOPIC_TIMEOUT_S, create_topics, delete_created_topics, delete_topics, make_admin, make_consumer,
                      make_producer, temporary_topics, unique_name)
from .connect import (CLUSTER_ENV_VAR, CLUSTER_FAULTS_UNAVAILABLE, ENV_VAR, bootstrap, cluster_bootstrap,
                      configured_bootstrap, controlled_broker, controlled_cluster, proxy_addresses)
from .describe import BrokerInUse, broker_in_use, client_versions

__all__ = ["CLUSTER_ENV_VAR", "CLUSTER_FAULTS_UNAVAILABLE", "ENV_VAR", "TOPIC_TIMEOUT_S", "BrokerInUse", "bootstrap", "broker_in_use", "client_versions",
           "cluster_bootstrap", "configured_bootstrap", "controlled_broker", "controlled_cluster", "create_topics",
           "delete_created_topics", "delete_topics", "make_admin", "make_consumer", "make_producer", "proxy_addresses", "temporary_topics",
           "unique_name"]
