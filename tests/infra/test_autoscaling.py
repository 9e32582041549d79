"""Auto scaling under mocks: the scalable target's range and each target-tracking policy."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from components.autoscaling import AutoScaling, AutoScalingArgs
from components.config import ScalingSettings, read_scaling_settings
from scripts.offline_stack import Recorded, build, of_type

CLUSTER = "aidlc-cluster-1a2b"
SERVICE = "aidlc-service-3c4d"
ALB = "app/aidlc-alb/50dc6c495c0c9188"
TG = "targetgroup/aidlc-tg/6d0ecf831eec9f09"

TARGET = "aws:appautoscaling/target:Target"
POLICY = "aws:appautoscaling/policy:Policy"


def _build(settings: ScalingSettings) -> list[Recorded]:
    args = AutoScalingArgs(
        cluster_name=pulumi.Output.from_input(CLUSTER),
        ecs_service_name=pulumi.Output.from_input(SERVICE),
        alb_arn_suffix=pulumi.Output.from_input(ALB),
        target_group_arn_suffix=pulumi.Output.from_input(TG),
        settings=settings,
    )
    return build(lambda: AutoScaling("scale", args))


@pytest.fixture(scope="module")
def graph() -> list[Recorded]:
    return _build(ScalingSettings())


@pytest.fixture(scope="module")
def policies(graph: list[Recorded]) -> dict[str, dict[str, Any]]:
    return {r.name.removeprefix("scale-"): r.inputs for r in of_type(graph, POLICY)}


def test_target_scales_this_service_between_one_and_six(graph: list[Recorded]) -> None:
    (target,) = of_type(graph, TARGET)
    t = target.inputs
    assert (t["serviceNamespace"], t["scalableDimension"]) == ("ecs", "ecs:service:DesiredCount")
    assert t["resourceId"] == f"service/{CLUSTER}/{SERVICE}"
    assert (t["minCapacity"], t["maxCapacity"]) == (1, 6)


@pytest.mark.parametrize(
    ("key", "metric", "target_value", "label"),
    [
        ("cpu", "ECSServiceAverageCPUUtilization", 60, None),
        ("memory", "ECSServiceAverageMemoryUtilization", 75, None),
        ("requests", "ALBRequestCountPerTarget", 600, f"{ALB}/{TG}"),
    ],
)
def test_target_tracking_policy(
    key: str, metric: str, target_value: float, label: str | None, policies: dict[str, dict[str, Any]]
) -> None:
    policy = policies[key]
    assert policy["policyType"] == "TargetTrackingScaling"
    assert policy["resourceId"] == f"service/{CLUSTER}/{SERVICE}"
    assert policy["scalableDimension"] == "ecs:service:DesiredCount"
    tracking = policy["targetTrackingScalingPolicyConfiguration"]
    assert tracking["targetValue"] == target_value
    assert tracking["predefinedMetricSpecification"]["predefinedMetricType"] == metric
    assert tracking["predefinedMetricSpecification"].get("resourceLabel") == label
    assert (tracking["scaleOutCooldown"], tracking["scaleInCooldown"]) == (60, 300)
    assert not tracking.get("disableScaleIn")


def test_exactly_three_policies(policies: dict[str, dict[str, Any]]) -> None:
    assert set(policies) == {"cpu", "memory", "requests"}


def test_every_child_is_parented_to_the_component(graph: list[Recorded]) -> None:
    for child in graph:
        if child.typ != "aidlc:autoscaling:AutoScaling":
            assert child.parent_types[-1] == "aidlc:autoscaling:AutoScaling", child.name


def test_range_comes_from_settings() -> None:
    (target,) = of_type(_build(ScalingSettings(min_tasks=3, max_tasks=10)), TARGET)
    assert (target.inputs["minCapacity"], target.inputs["maxCapacity"]) == (3, 10)


@pytest.mark.parametrize(("low", "high"), [(0, 4), (5, 4)])
def test_inconsistent_range_is_refused(low: int, high: int) -> None:
    with pytest.raises(ValueError, match="min_tasks"):
        ScalingSettings(min_tasks=low, max_tasks=high)


def test_settings_from_config() -> None:
    pulumi.runtime.set_all_config({"aidlc-auth:scalingMaxTasks": "12", "aidlc-auth:scalingCpuTargetPercent": "50"})
    try:
        settings = read_scaling_settings(pulumi.Config("aidlc-auth"))
    finally:
        pulumi.runtime.set_all_config({})
    assert (settings.min_tasks, settings.max_tasks, settings.cpu_target_percent) == (1, 12, 50)
