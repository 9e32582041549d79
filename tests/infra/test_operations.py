"""Operations wiring in the real program: alarms, dashboard and scaling point at this stack's own resources."""

from __future__ import annotations

import json
from typing import Any

import pytest

from scripts.offline_stack import StackGraph

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"


@pytest.fixture(scope="module")
def ids(staging: StackGraph, container: dict[str, Any]) -> dict[str, str]:
    """The identifiers CloudWatch knows this stack's resources by, read from the mocked graph."""
    env = {item["name"]: item["value"] for item in container["environment"]}
    return {
        "LoadBalancer": staging.one("aws:lb/loadBalancer:LoadBalancer").state["arnSuffix"],
        "TargetGroup": staging.one("aws:lb/targetGroup:TargetGroup").state["arnSuffix"],
        "ClusterName": staging.one("aws:ecs/cluster:Cluster").state["name"],
        "ServiceName": staging.one("aws:ecs/service:Service").state["name"],
        "DBInstanceIdentifier": staging.one("aws:rds/instance:Instance").state["identifier"],
        "CacheClusterId": staging.one("aws:elasticache/replicationGroup:ReplicationGroup").state["id"] + "-001",
        "Service": env["SERVICE_NAME"],  # the EMF dimension is whatever the task tells the service it is
        "LogGroup": staging.by_name("auth-staging-logs").state["name"],
    }


def test_every_alarm_dimension_is_this_stacks_resource(staging: StackGraph, ids: dict[str, str]) -> None:
    alarms = staging.of_type(ALARM)
    assert len(alarms) == 14  # 12 kinds, Redis CPU and memory for its one node
    for alarm in alarms:
        dims = alarm.plain["dimensions"]
        assert dims, alarm.name
        for name, value in dims.items():
            assert value == ids[name], f"{alarm.name}: {name}={value}"
        assert alarm.parent_type == "aidlc:monitoring:Monitoring"


def test_no_alarm_in_the_stack_has_actions(staging: StackGraph) -> None:
    for alarm in staging.of_type(ALARM):
        assert not any(alarm.plain.get(k) for k in ("alarmActions", "okActions", "insufficientDataActions"))


def test_dashboard_names_only_this_stacks_resources(staging: StackGraph, ids: dict[str, str]) -> None:
    board = staging.one("aws:cloudwatch/dashboard:Dashboard")
    body = json.loads(board.plain["dashboardBody"])
    known = set(ids.values())
    for widget in body["widgets"]:
        for line in widget["properties"].get("metrics", []):
            values = [part for part in line if isinstance(part, str)][3::2]
            assert set(values) <= known, line
    (log,) = [w for w in body["widgets"] if w["type"] == "log"]
    assert f"SOURCE '{ids['LogGroup']}'" in log["properties"]["query"]
    assert staging.outputs["dashboard_name"] == board.plain["dashboardName"]
    assert staging.outputs["dashboard_url"] == (
        "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1"
        f"#dashboards/dashboard/{board.plain['dashboardName']}"
    )


def test_autoscaling_drives_this_service_from_its_desired_count(staging: StackGraph, ids: dict[str, str]) -> None:
    target = staging.one("aws:appautoscaling/target:Target").plain
    assert target["resourceId"] == f"service/{ids['ClusterName']}/{ids['ServiceName']}"
    service = staging.one("aws:ecs/service:Service").plain
    assert target["minCapacity"] <= service["desiredCount"] <= target["maxCapacity"]
    assert (target["minCapacity"], target["maxCapacity"]) == (1, 6)  # no event window in the stack file
    requests = [p.plain for p in staging.of_type("aws:appautoscaling/policy:Policy") if "requests" in p.name]
    (policy,) = requests
    label = policy["targetTrackingScalingPolicyConfiguration"]["predefinedMetricSpecification"]["resourceLabel"]
    assert label == f"{ids['LoadBalancer']}/{ids['TargetGroup']}"
