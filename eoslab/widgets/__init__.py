"""Widgets for the course's demos (ipywidgets 8): a failure panel per demo, a broker status panel.

    panel = FailurePanel.for_producer(topic, count=20, variants={
        "idempotence off": {"enable.idempotence": False, "acks": "all", "retries": 5},
        "idempotence on": {"enable.idempotence": True}}, faults=["drop_produce_ack", "kill_worker"])
    panel          # shows it; click "Drop next produce ack", then "Run producer"
    panel.close()  # stops the workers, the proxy and the refresh thread

One panel family: :class:`PipelinePanel` (a copier started, killed, restarted, verified) and
:class:`DbConsumerPanel` (a bookkeeper crashed between its database and offset commits) are
:class:`FailurePanel` subclasses sharing its faults, status, log, delivery counts and ``close()``.
"""

from .broker_status import BrokerStatusPanel
from .db_consumer_panel import DbConsumerPanel
from .failure_panel import FAULTS, FailurePanel
from .pipeline_panel import PipelinePanel

__all__ = ["FAULTS", "BrokerStatusPanel", "DbConsumerPanel", "FailurePanel", "PipelinePanel"]
