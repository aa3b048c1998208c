"""eoslab: the package behind *Exactly-once Kafka, hands-on*.

One folder per job (``docs/architecture.md`` draws who imports whom):

- :mod:`eoslab.broker` — run Apache Kafka (the embedded KRaft node, its jars, readiness);
- :mod:`eoslab.kafka` — talk to it (the address, clients that log quietly);
- :mod:`eoslab.chaos` — break the network (the Kafka-aware fault proxy);
- :mod:`eoslab.workers` — processes that really die (producers, consumers, pipelines);
- :mod:`eoslab.observe` — see what Kafka did (statistics, the partition log, transactions);
- :mod:`eoslab.lessons` — what the exercises build on (the verifier, error classes, sinks, quizzes);
- :mod:`eoslab.grading` — nbgrader's machinery (generate, autograde, report);
- :mod:`eoslab.widgets` — the failure panels; :mod:`eoslab.cli` — the ``eoslab`` command.

Under everything: :mod:`eoslab.errors` (the one exception the course raises on purpose) and
:mod:`eoslab.clientlog` (where every Kafka client's log goes). A notebook usually needs only
:func:`bootstrap` from here (or :func:`cluster`: the three-node cluster's address, started if need be).
"""

from .broker import KAFKA_VERSION
from .errors import EoslabError
from .kafka import bootstrap
from .kafka import cluster_bootstrap as cluster

__all__ = ["KAFKA_VERSION", "EoslabError", "bootstrap", "cluster"]
__version__ = "0.1.0"
