"""eoslab: the package behind *Exactly-once Kafka, hands-on*.

Notebooks import it for the broker address (:func:`bootstrap`), Kafka clients that log quietly
(:mod:`eoslab.clients`), fault injection (:mod:`eoslab.chaos`, :mod:`eoslab.workers`), widgets
(:mod:`eoslab.widgets`) and the verifier (:mod:`eoslab.verify`).
"""

from .broker import KAFKA_VERSION
from .connect import bootstrap
from .errors import EoslabError

__all__ = ["KAFKA_VERSION", "EoslabError", "bootstrap"]
__version__ = "0.1.0"
