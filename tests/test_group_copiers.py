"""Exactly-once copiers as one consumer group (issue 19), in the style of Kafka's transactions_test.py.

Three instances of the course's copier subscribe to a six-partition input; while they copy, they are
SIGKILLed and restarted, one is paused past the session timeout (a zombie consumer: its partitions
move on without it, and its open transaction must not commit), and the broker is restarted hard.
The output, read read_committed, must hold every input record once, in order within its partition.
The contrast: the same copiers committing offsets with the consumer after the copies duplicate.
The long runs (100,000 records, 1/2/3 instances) are bench/group_copiers.py.
"""

from __future__ import annotations

import pytest

from eoslab.errors import EoslabError
from eoslab.workers.group_run import GroupFault, fence_a_zombie_consumer, group_fault_plan, run_group_copiers

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def test_the_fault_plan_is_seeded_and_spread_over_the_input() -> None:
    plan = group_fault_plan(7, instances=3, kills=4, pauses=1, broker_restarts=1)
    assert plan == group_fault_plan(7, instances=3, kills=4, pauses=1, broker_restarts=1)
    assert plan != group_fault_plan(8, instances=3, kills=4, pauses=1, broker_restarts=1)
    assert sorted(fault.kind for fault in plan) == ["broker", "kill", "kill", "kill", "kill", "pause"]
    assert [fault.at_fraction for fault in plan] == sorted(fault.at_fraction for fault in plan)
    assert all(0.05 <= fault.at_fraction <= 0.85 and 0 <= fault.instance < 3 for fault in plan)


def test_bad_sizes_are_refused_in_one_line(kafka_bootstrap: str) -> None:
    with pytest.raises(EoslabError, match="at least 1"):
        run_group_copiers(records=10, instances=0)


@pytest.mark.timeout(330)
def test_three_copiers_in_a_group_copy_exactly_once_through_kills_a_zombie_and_a_broker_restart(
        kafka_bootstrap: str) -> None:
    plan = group_fault_plan(1, instances=3, kills=4, pauses=1, broker_restarts=1)
    result = run_group_copiers(records=20_000, partitions=6, instances=3, plan=plan, timeout_s=300)
    assert len(result.strikes) == len(plan), result.describe()  # every strike happened, mid-copy
    assert result.exactly_once, result.describe()
    assert result.report.received == 20_000, result.describe()


@pytest.mark.timeout(200)
def test_copiers_that_commit_offsets_after_the_copies_duplicate_when_killed(kafka_bootstrap: str) -> None:
    plan = [GroupFault(0.2, "kill", 0), GroupFault(0.4, "kill", 1), GroupFault(0.6, "kill", 2)]
    result = run_group_copiers(records=4_000, partitions=6, instances=3, plan=plan, mode="at_least_once",
                               timeout_s=180)
    assert len(result.strikes) == len(plan) and not result.errors, result.describe()
    assert result.report.duplicated and not result.report.lost, result.describe()


@pytest.mark.timeout(150)
def test_a_copier_paused_past_its_session_timeout_wakes_up_fenced(kafka_bootstrap: str) -> None:
    """The zombie consumer: its partitions moved on; its offsets, sent with the old generation, are refused."""
    result = fence_a_zombie_consumer(records=1_000, partitions=2, timeout_s=120)
    assert result.fenced, result.describe()
    assert result.zombie_error and result.zombie_error.split(":")[0] in (
        "ILLEGAL_GENERATION", "UNKNOWN_MEMBER_ID", "FENCED_INSTANCE_ID", "REBALANCE_IN_PROGRESS"), result.describe()


@pytest.mark.timeout(200)
def test_kip_848_groups_move_partitions_incrementally_and_stay_exactly_once(kafka_bootstrap: str) -> None:
    """group.protocol=consumer: instances join one by one while copying; partitions move to them.

    No broker restart here: with this protocol, after one, the group committed nothing for ~43 s here
    (about the broker's 45 s minimum session timeout: copiers that rejoin as new members wait for their
    old selves to expire); the main test covers the restart, with the classic protocol.
    """
    plan = [GroupFault(0.15, "join", 1), GroupFault(0.3, "join", 2)]
    result = run_group_copiers(records=5_000, partitions=6, instances=1, plan=plan,
                               consumer_config={"group.protocol": "consumer"}, timeout_s=180)
    assert len(result.strikes) == len(plan), result.describe()
    assert result.exactly_once, result.describe()
    # The partitions moved incrementally, and each instance's own account adds up to the whole input.
    owned = [partition for partitions in result.final_owners.values() for partition in partitions]
    assert sorted(owned) == list(range(6)), result.final_owners
    assert all(result.final_owners.values()), f"an instance was left without partitions: {result.final_owners}"


def test_kip_848_refuses_a_plan_it_cannot_keep_short(kafka_bootstrap: str) -> None:
    with pytest.raises(EoslabError, match="45 s"):
        run_group_copiers(records=10, plan=[GroupFault(0.5, "kill", 0)], consumer_config={"group.protocol": "consumer"})
