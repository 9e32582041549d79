"""The idle task on Fargate Spot (config `idleOnSpot`): exactly one task on Spot, every other task on demand, and
every event window's minimum the crowd's on-demand tasks plus that Spot task - the crowd never depends on Spot.

What the provider does with a change of strategy (an in-place rolling deployment only with force_new_deployment;
a replacement for any change of launch_type) is docs/infra.md's "Capacity providers"; what is asserted here is
what keeps a second `up`, and switching the setting either way, off that replacement path.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from components.autoscaling import sized_windows
from components.capacity import tasks_for_attendees
from components.compute import capacity_provider_strategy
from components.config import ComputeSettings, EventWindow, ScalingSettings
from scripts.offline_stack import ROOT, StackGraph

SERVICE = "aws:ecs/service:Service"
CLUSTER = "aws:ecs/cluster:Cluster"
PROVIDERS = "aws:ecs/clusterCapacityProviders:ClusterCapacityProviders"
TARGET = "aws:appautoscaling/target:Target"
ACTION = "aws:appautoscaling/scheduledAction:ScheduledAction"
TARGET_GROUP = "aws:lb/targetGroup:TargetGroup"
SPOT_OFF = {"aidlc-auth:idleOnSpot": "false"}
# Fargate Spot's interruption notice: SIGTERM two minutes before the task is stopped (docs/operations.md).
SPOT_WARNING_SECONDS = 120


def strategy(graph: StackGraph) -> dict[str, dict[str, Any]]:
    items = graph.one(SERVICE).plain["capacityProviderStrategies"]
    return {item["capacityProvider"]: {k: v for k, v in item.items() if k != "capacityProvider"} for item in items}


def keynote(start: datetime, attendees: int = 2000) -> dict[str, str]:
    window = {"name": "keynote", "start": start.isoformat(), "end": (start + timedelta(hours=2)).isoformat()}
    return {"aidlc-auth:eventWindows": json.dumps([{**window, "attendees": attendees}])}


# --- the service's capacity -----------------------------------------------------------------------------------


def test_exactly_the_first_task_is_on_spot_and_every_other_on_demand(staging: StackGraph) -> None:
    assert strategy(staging) == {"FARGATE_SPOT": {"base": 1, "weight": 0}, "FARGATE": {"weight": 1}}
    service = staging.one(SERVICE).plain
    assert "launchType" not in service  # it conflicts with a strategy, and changing it replaces the service
    assert service["forceNewDeployment"] is True  # without it the provider refuses any change of strategy


def test_the_strategy_is_the_on_demand_one_without_spot() -> None:
    def plain(items: list[Any]) -> list[tuple[str, int | None, int | None]]:
        return [(i.capacity_provider, i.base, i.weight) for i in items]

    assert plain(capacity_provider_strategy(0)) == [("FARGATE", None, 1)]
    assert plain(capacity_provider_strategy(1)) == [("FARGATE_SPOT", 1, 0), ("FARGATE", None, 1)]


def test_the_cluster_offers_both_providers_before_the_service_names_them(staging: StackGraph) -> None:
    providers = staging.one(PROVIDERS)
    assert providers.plain["clusterName"] == staging.one(CLUSTER).state["name"]
    assert sorted(providers.plain["capacityProviders"]) == ["FARGATE", "FARGATE_SPOT"]
    assert "defaultCapacityProviderStrategies" not in providers.plain  # the service names its own strategy
    assert providers.key in staging.direct_prerequisites(staging.one(SERVICE))


def test_turning_spot_off_keeps_a_strategy_and_the_cluster_association(run_stack: Callable[..., StackGraph]) -> None:
    """Off is the on-demand strategy, not launch_type FARGATE: either direction is an in-place update."""
    graph = run_stack(config_overrides=SPOT_OFF)
    assert strategy(graph) == {"FARGATE": {"weight": 1}}
    assert "launchType" not in graph.one(SERVICE).plain
    assert graph.one(SERVICE).plain["forceNewDeployment"] is True
    assert sorted(graph.one(PROVIDERS).plain["capacityProviders"]) == ["FARGATE", "FARGATE_SPOT"]


def test_the_service_is_auto_named_so_a_replacement_would_never_collide(staging: StackGraph) -> None:
    """Should anything ever replace the service, Pulumi creates the new one first: with no fixed name it cannot
    collide with the old one, so `deleteBeforeReplace` (an outage) is not needed."""
    service = staging.one(SERVICE)
    assert "name" not in service.plain
    assert service.state["name"].startswith(service.name + "-")


def test_an_interrupted_spot_task_drains_and_shuts_down_inside_the_two_minute_warning(staging: StackGraph) -> None:
    deregistration = int(staging.one(TARGET_GROUP).plain["deregistrationDelay"])
    (container,) = json.loads(staging.one("aws:ecs/taskDefinition:TaskDefinition").plain["containerDefinitions"])
    stop_timeout = container.get("stopTimeout", 30)  # Fargate's default
    server = (ROOT / "auth_service" / "__main__.py").read_text()
    graceful = re.search(r"timeout_graceful_shutdown=(\d+)", server)
    assert graceful, "uvicorn's graceful shutdown is not bounded"
    assert stop_timeout > int(graceful[1])  # in-flight requests finish before ECS kills the container
    assert deregistration + stop_timeout <= SPOT_WARNING_SECONDS


def test_fargate_spot_is_on_by_default_and_named_in_the_stack_file() -> None:
    assert ComputeSettings().idle_on_spot and ComputeSettings().spot_tasks == 1
    assert ComputeSettings(idle_on_spot=False).spot_tasks == 0
    assert "aidlc-auth:idleOnSpot: true" in (ROOT / "Pulumi.staging.yaml").read_text()


# --- event windows: the crowd on on-demand tasks alone --------------------------------------------------------

START = datetime(2026, 12, 10, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize("attendees", [0, 475, 1000, 2000])
def test_every_window_is_the_crowds_on_demand_tasks_plus_the_spot_task(attendees: int) -> None:
    settings = ScalingSettings(event_windows=(EventWindow("w", START, START + timedelta(hours=1), attendees),))
    on_demand = tasks_for_attendees(attendees, 512)
    (with_spot,) = sized_windows(settings, 512, spot_tasks=1)
    (without,) = sized_windows(settings, 512, spot_tasks=0)
    assert (with_spot.tasks, without.tasks) == (on_demand + 1, on_demand)


def test_a_window_whose_crowd_plus_the_spot_task_exceeds_the_maximum_is_refused() -> None:
    settings = ScalingSettings(event_windows=(EventWindow("expo", START, START + timedelta(hours=1), 2500),))
    assert sized_windows(settings, 512, spot_tasks=0)[0].tasks == 6  # fits without the Spot task
    with pytest.raises(ValueError, match=r"need 6 tasks \+ 1 on Fargate Spot \(idleOnSpot\) = 7 .* scalingMaxTasks 6"):
        sized_windows(settings, 512, spot_tasks=1)


def _scheduled_minimums(graph: StackGraph) -> list[int]:
    actions = sorted(graph.of_type(ACTION), key=lambda a: a.plain["schedule"])
    return [int(a.plain["scalableTargetAction"]["minCapacity"]) for a in actions]


def test_the_stack_pre_scales_the_keynote_to_its_on_demand_tasks_plus_the_spot_task(
    run_stack: Callable[..., StackGraph],
) -> None:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    assert _scheduled_minimums(run_stack(config_overrides=keynote(start))) == [5 + 1, 1]
    assert _scheduled_minimums(run_stack(config_overrides={**keynote(start), **SPOT_OFF})) == [5, 1]


def test_an_up_during_the_window_holds_the_window_minimum_with_the_spot_task(
    run_stack: Callable[..., StackGraph],
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    graph = run_stack(config_overrides=keynote(now - timedelta(minutes=30)))
    assert graph.one(TARGET).plain["minCapacity"] == 5 + 1
