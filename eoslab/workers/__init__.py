"""Workers that really die: producer, consumer and pipeline processes with named crash points.

Each worker is a real subprocess (``python -m eoslab.workers.<kind>``) that takes its Kafka
configuration explicitly, reports its progress on a status pipe (:class:`WorkerStatus`), and at a
named crash point kills itself with SIGKILL. From the notebook it can be killed (SIGKILL), paused
(SIGSTOP, a zombie for fencing demos) and resumed.

    worker = start_producer(topic, count=100, config={"enable.idempotence": True})
    worker.wait_for(lambda s: s.acked >= 100, timeout_s=30)

- :mod:`.handle` — :class:`Worker`, the notebook's side of one process; :mod:`.protocol` — the
  worker's side (status pipe, crash points); :mod:`.launch` — :func:`start_producer`,
  :func:`start_consumer`, :func:`start_pipeline`;
- :mod:`.producer`, :mod:`.consumer`, :mod:`.pipeline`, :mod:`.db_consumer` — the processes
  (:func:`start_db_consumer` writes lesson 08's database sinks);
- :mod:`.harness` — :func:`run_under_kills`: a learner's pipeline function run in a worker that is
  SIGKILLed and restarted, then verified (assignment 06's hidden test);
- :mod:`.group_run` — :func:`run_group_copiers`: several exactly-once copiers as one consumer group
  on a multi-partition input, SIGKILLed, paused past the session timeout and through a broker
  restart, then every partition verified (Kafka's transactions_test.py, on the course's broker);
- :mod:`.member_harness` — :func:`run_members`: a learner's group member (assignment 07's exercise)
  run as three processes of one group under a kill, a join, a zombie and a kill after a commit;
- :mod:`.revocation_check` — :func:`revoke_with_open_transaction`: that member's partition moved to
  another member while its transaction is open, on purpose: a member with no on_revoke commit
  copies records twice every time;
- :mod:`.broker_faults` — :func:`crash_broker`, :func:`restart_broker` for the broker the course runs;
- :mod:`.durability` — replication faults on the three-node cluster, each a bounded demo with a
  result that ``describe()``s itself: :func:`compare_acks` (acks=1 loses acknowledged records in a
  leader failover, acks=all + min.insync.replicas=2 does not), :func:`compare_unclean_election`
  (off: unavailable; on: available with loss), :func:`transaction_across_coordinator_kill`;
- :mod:`.failover` — :func:`run_pipeline_under_failover`: the exactly-once pipeline worker on the
  cluster while the input's leader, the output's leader and the transaction coordinator are killed.

Workers build on :mod:`eoslab.lessons` (the verifier's record format, the sinks) and
:mod:`eoslab.kafka`; nothing below imports them.
"""

from .broker_faults import BrokerFaultUnavailable, broker_is_controlled, crash_broker, restart_broker, start_broker
from .db_consumer import start_db_consumer
from .durability import (CoordinatorKillResult, DurableSettings, FailoverResult, OneNodeDownResult, UncleanResult,
                         compare_acks, compare_unclean_election, durable_settings, effective_settings, leader_failover,
                         settings_through_failover, settings_with_one_node_down, transaction_across_coordinator_kill,
                         unclean_election)
from .failover import Kill, PipelineFailoverResult, run_pipeline_under_failover
from .group_run import GroupFault, GroupRunResult, group_fault_plan, run_group_copiers
from .handle import Worker, WorkerExited, WorkerStatus
from .harness import HarnessResult, KillPoint, kill_plan, run_under_kills
from .launch import start_consumer, start_pipeline, start_producer
from .member_harness import run_members
from .revocation_check import RevocationResult, revoke_with_open_transaction
from .protocol import CRASH_POINTS

__all__ = ["CRASH_POINTS", "BrokerFaultUnavailable", "CoordinatorKillResult", "DurableSettings", "FailoverResult", "GroupFault",
           "GroupRunResult", "HarnessResult", "Kill", "KillPoint", "OneNodeDownResult", "PipelineFailoverResult", "RevocationResult", "UncleanResult", "Worker",
           "WorkerExited", "WorkerStatus", "broker_is_controlled", "compare_acks", "compare_unclean_election",
           "crash_broker", "durable_settings", "effective_settings", "group_fault_plan", "kill_plan", "leader_failover", "restart_broker",
           "revoke_with_open_transaction", "run_group_copiers", "run_members", "run_pipeline_under_failover", "run_under_kills", "settings_through_failover",
           "settings_with_one_node_down",
           "start_broker", "start_consumer", "start_db_consumer", "start_pipeline", "start_producer",
           "transaction_across_coordinator_kill", "unclean_election"]
