"""PostgreSQL connections: the service at its worst fits in what the instance really allows, with headroom.

Every number is read from the mocked stack itself (the parameter group, the task definition's environment, the
service's deployment settings, the scaling target and any scheduled scaling action, the alarm), so a change to
any of them that breaks the arithmetic fails here, whichever file it was made in.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.pool import QueuePool

from auth_service.adapters.postgres.database import create_engine
from components.config import GIB
from scripts.offline_stack import StackGraph

PARAMETER_GROUP = "aws:rds/parameterGroup:ParameterGroup"
RDS = "aws:rds/instance:Instance"
SCALING_TARGET = "aws:appautoscaling/target:Target"
SCHEDULED_ACTION = "aws:appautoscaling/scheduledAction:ScheduledAction"
# RDS for PostgreSQL keeps superuser_reserved_connections (3) and rds.rds_superuser_reserved_connections (2) out of
# reach of applications (AWS knowledge center, "remaining connection slots are reserved").
RESERVED_SLOTS = 3 + 2
# RDS's default max_connections is LEAST(DBInstanceClassMemory/9531392, 5000); DBInstanceClassMemory is less
# than the class's memory, so this "paper" value is an upper bound of the real default.
RDS_BYTES_PER_CONNECTION = 9531392
CLASS_MEMORY_GIB = {"db.t4g.micro": 1, "db.t4g.small": 2}


def max_connections(graph: StackGraph) -> int:
    (parameter,) = [p for p in graph.one(PARAMETER_GROUP).plain["parameters"] if p["name"] == "max_connections"]
    return int(parameter["value"])


def scaling_maximum(graph: StackGraph) -> int:
    """The most tasks auto scaling may run: the target's maximum, any scheduled action's, or any `*max_tasks*`
    setting of components/config.py's ScalingSettings (an event window's maximum), whichever is highest."""
    settings = vars(graph.component("config").scaling)
    maxima = [int(value) for key, value in settings.items() if "max_tasks" in key and isinstance(value, int)]
    maxima += [int(t.plain["maxCapacity"]) for t in graph.of_type(SCALING_TARGET)]
    for action in graph.of_type(SCHEDULED_ACTION):
        bounds = action.plain.get("scalableTargetAction") or {}
        if "maxCapacity" in bounds:
            maxima.append(int(bounds["maxCapacity"]))
    return max(maxima)


def connections_per_task(container: dict[str, Any]) -> int:
    env = {item["name"]: item["value"] for item in container["environment"]}
    # Each worker's pool plus as many overflow connections (proven below against the adapter).
    return int(env["WEB_CONCURRENCY"]) * 2 * int(env["DB_POOL_SIZE"])


def task_container(graph: StackGraph) -> dict[str, Any]:
    (container,) = json.loads(graph.one("aws:ecs/taskDefinition:TaskDefinition").plain["containerDefinitions"])
    return dict(container)


def connections_alarm_threshold(graph: StackGraph) -> float:
    alarms = graph.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    (alarm,) = [a for a in alarms if a.name.endswith("-connections-high")]
    assert alarm.plain["metricName"] == "DatabaseConnections"
    return float(alarm.plain["threshold"])


def budget(graph: StackGraph) -> dict[str, float]:
    service = graph.one("aws:ecs/service:Service").plain
    peak_tasks = scaling_maximum(graph) * int(service["deploymentMaximumPercent"]) // 100  # ECS rounds down
    return {
        "max_connections": max_connections(graph),
        "usable": max_connections(graph) - RESERVED_SLOTS,
        "peak": peak_tasks * connections_per_task(task_container(graph)),
        "alarm": connections_alarm_threshold(graph),
    }


def test_max_connections_is_pinned_in_the_instances_parameter_group_below_rds_own_default(staging: StackGraph) -> None:
    db = staging.one(RDS).plain
    group = staging.one(PARAMETER_GROUP)
    assert db["parameterGroupName"] == group.state["name"]
    assert group.plain["family"] == f"postgres{db['engineVersion'].split('.')[0]}"
    paper_default = CLASS_MEMORY_GIB[db["instanceClass"]] * GIB // RDS_BYTES_PER_CONNECTION  # 112 on 1 GiB
    assert max_connections(staging) <= paper_default


def test_every_pool_at_its_worst_stays_below_the_alarm_and_the_alarm_below_the_ceiling(staging: StackGraph) -> None:
    numbers = budget(staging)
    # Today: 6 tasks x 200 % = 12 tasks x 4 = 48 <= alarm 60 < 75 usable of 80.
    assert numbers["peak"] <= numbers["alarm"] < numbers["usable"], numbers
    assert numbers["usable"] - numbers["alarm"] >= 10, "the alarm must leave slots to act on"


def test_a_bigger_instance_class_raises_the_ceiling_and_the_alarm_with_it(run_stack: Callable[..., StackGraph]) -> None:
    graph = run_stack(config_overrides={"aidlc-auth:dbInstanceClass": "db.t4g.small"})
    numbers = budget(graph)
    assert (numbers["max_connections"], numbers["alarm"]) == (160, 120)
    assert numbers["peak"] <= numbers["alarm"] < numbers["usable"]


@pytest.mark.parametrize(
    "overrides",
    [{"aidlc-auth:scalingMaxTasks": "12"}, {"aidlc-auth:dbPoolSize": "5"}, {"aidlc-auth:alarmRdsConnections": "78"}],
)
def test_a_config_that_would_overcommit_the_database_is_refused(
    run_stack: Callable[..., StackGraph], overrides: dict[str, str]
) -> None:
    with pytest.raises(Exception, match="PostgreSQL connections"):
        run_stack(config_overrides=overrides)


def test_each_worker_opens_its_pool_plus_as_many_overflow_connections() -> None:
    """What `connections_per_task` assumes, read from the service's own engine factory."""
    engine = create_engine("postgresql+asyncpg://u@127.0.0.1:9/db", sslmode="disable", pool_size=3)
    pool = engine.sync_engine.pool
    assert isinstance(pool, QueuePool)
    assert (pool.size(), pool._max_overflow) == (3, 3)


def test_a_window_with_the_spot_task_on_top_stays_within_the_scaling_maximum_and_the_budget(
    run_stack: Callable[..., StackGraph],
) -> None:
    """The largest crowd a window takes (5 on-demand tasks + the Fargate Spot task = 6) raises the minimum to the
    maximum, never past it: the connection budget's peak is the maximum's, with the Spot task inside it."""
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    window = {"name": "keynote", "start": start.isoformat(), "end": (start + timedelta(hours=2)).isoformat()}
    graph = run_stack(config_overrides={"aidlc-auth:eventWindows": json.dumps([{**window, "attendees": 2375}])})
    raised = max(int(a.plain["scalableTargetAction"]["minCapacity"]) for a in graph.of_type(SCHEDULED_ACTION))
    assert raised == 5 + 1 == scaling_maximum(graph)
    numbers = budget(graph)
    assert numbers["peak"] <= numbers["alarm"] < numbers["usable"], numbers
