"""Real network faults between Kafka clients and the broker: the course's Kafka-aware fault proxy.

    from eoslab.chaos import FaultProxy, ApiKey
    proxy = FaultProxy().start()               # listens where the broker's proxied listener points
    producer = make_producer({...}, bootstrap_servers=proxy.bootstrap)
    proxy.drop_responses("Produce", count=1)    # the broker writes, the client never hears
    with proxy.partitioned(max_s=10): ...       # nothing crosses for the block
    proxy.counters()["responses_dropped"]       # {"Produce": 1}
    proxy.stop()

See :mod:`eoslab.chaos.proxy` for what each fault guarantees and why an off-the-shelf proxy cannot
do this, and :mod:`eoslab.chaos.framing` for the little of Kafka's protocol the proxy reads.
"""

from .faults import DEFAULT_FAULT_S, MAX_FAULT_S
from .framing import ApiKey, api_name
from .proxy import FaultProxy

__all__ = ["DEFAULT_FAULT_S", "MAX_FAULT_S", "ApiKey", "FaultProxy", "api_name"]
