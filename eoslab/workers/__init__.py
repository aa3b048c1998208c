"""Workers that really die: producer, consumer and pipeline processes with named crash points.

Each worker is a real subprocess (``python -m eoslab.workers.<kind>``) that takes its Kafka
configuration explicitly, reports its progress on a status pipe (:class:`WorkerStatus`), and at a
named crash point kills itself with SIGKILL. From the notebook it can be killed (SIGKILL), paused
(SIGSTOP, a zombie for fencing demos) and resumed. Broker crashes live in :mod:`.broker_faults`.

    worker = start_producer(topic, count=100, config={"enable.idempotence": True})
    worker.wait_for(lambda s: s.acked >= 100, timeout_s=30)
"""

from .handle import Worker, WorkerExited, WorkerStatus
from .launch import start_consumer, start_pipeline, start_producer
from .protocol import CRASH_POINTS

__all__ = ["CRASH_POINTS", "Worker", "WorkerExited", "WorkerStatus", "start_consumer", "start_pipeline",
           "start_producer"]
