"""Widgets for the course (ipywidgets 8): a failure panel per demo, a broker status panel, progress.

    panel = FailurePanel.for_producer(topic, count=20, variants={
        "idempotence off": {"enable.idempotence": False, "acks": "all", "retries": 5},
        "idempotence on": {"enable.idempotence": True}}, faults=["drop_produce_ack", "kill_worker"])
    panel          # shows it; click "Drop next produce ack", then "Run producer"
    panel.close()  # stops the workers, the proxy and the refresh thread

One panel family: :class:`PipelinePanel` (a copier started, killed, restarted, verified) and
:class:`DbConsumerPanel` (a bookkeeper crashed between its database and offset commits) are
:class:`FailurePanel` subclasses sharing its faults, status, log, delivery counts and ``close()``.
:class:`RecoveryPanel` (09) runs two copiers through a broker crash, one per
``metadata.recovery.strategy``. :class:`DurabilityPanel` (02) breaks the three-node cluster and draws
what each replica kept. :class:`GroupPanel` (07) runs up to three copiers as one consumer group: partitions
move, a paused copier wakes up fenced. :class:`ProgressTable` (on the start page) shows the learner's grading runs per assignment, live.
:func:`explain_error` shows an error as one readable line, the raw text behind a disclosure (as panels do).
"""

from .broker_status import BrokerStatusPanel
from .db_consumer_panel import DbConsumerPanel
from .durability_panel import DurabilityPanel
from .error_text import explain_error
from .failure_panel import FAULTS, FailurePanel
from .group_panel import GroupPanel
from .pipeline_panel import PipelinePanel
from .progress_table import ProgressTable
from .recovery_panel import RecoveryPanel

__all__ = ["FAULTS", "BrokerStatusPanel", "DbConsumerPanel", "DurabilityPanel", "FailurePanel", "GroupPanel", "PipelinePanel", "ProgressTable",
           "RecoveryPanel", "explain_error"]
