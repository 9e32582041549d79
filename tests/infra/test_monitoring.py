"""Monitoring under mocks: each alarm's metric, dimensions and threshold; no actions; the dashboard."""

from __future__ import annotations

import json
import re
from typing import Any

import pulumi
import pytest

from components.config import GIB, AlarmThresholds, read_alarm_thresholds
from components.data import redis_member_cluster_ids
from components.monitoring import Monitoring, MonitoringArgs
from scripts.offline_stack import Recorded, StackGraph, build, of_type

ALB = "app/aidlc-alb/50dc6c495c0c9188"
TG = "targetgroup/aidlc-tg/6d0ecf831eec9f09"
CLUSTER = "aidlc-cluster-1a2b"
SERVICE = "aidlc-service-3c4d"
DB = "aidlc-db-5e6f"
RG = "aidlc-redis-7a8b"
LOG_GROUP = "/ecs/aidlc-auth-staging"
EMF_SERVICE = "aidlc-auth-staging"
STACK_VALUES = {ALB, TG, CLUSTER, SERVICE, DB, f"{RG}-001", f"{RG}-002", LOG_GROUP, EMF_SERVICE}

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
LB_TG = {"LoadBalancer": ALB, "TargetGroup": TG}
ECS = {"ClusterName": CLUSTER, "ServiceName": SERVICE}
RDS = {"DBInstanceIdentifier": DB}
REDIS_1 = {"CacheClusterId": f"{RG}-001"}
REDIS_2 = {"CacheClusterId": f"{RG}-002"}
GT, GE, LT = "GreaterThanThreshold", "GreaterThanOrEqualToThreshold", "LessThanThreshold"
OK_NO_DATA, BAD_NO_DATA = "notBreaching", "breaching"

# key: (namespace, metric, dimensions, statistic, comparison, threshold, treat missing data)
EXPECTED: dict[str, tuple[str, str, dict[str, str], str, str, float, str]] = {
    "ecs-cpu-high": ("AWS/ECS", "CPUUtilization", ECS, "Average", GT, 80, OK_NO_DATA),
    "ecs-memory-high": ("AWS/ECS", "MemoryUtilization", ECS, "Average", GT, 80, OK_NO_DATA),
    "alb-target-5xx": ("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", LB_TG, "Sum", GT, 5, OK_NO_DATA),
    "alb-elb-5xx": ("AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", {"LoadBalancer": ALB}, "Sum", GT, 5, OK_NO_DATA),
    "target-p95-latency": ("AWS/ApplicationELB", "TargetResponseTime", LB_TG, "p95", GT, 1.0, OK_NO_DATA),
    "unhealthy-hosts": ("AWS/ApplicationELB", "UnHealthyHostCount", LB_TG, "Maximum", GE, 1, OK_NO_DATA),
    "healthy-hosts-none": ("AWS/ApplicationELB", "HealthyHostCount", LB_TG, "Minimum", LT, 1, BAD_NO_DATA),
    "rds-cpu-high": ("AWS/RDS", "CPUUtilization", RDS, "Average", GT, 80, OK_NO_DATA),
    "rds-free-storage-low": ("AWS/RDS", "FreeStorageSpace", RDS, "Minimum", LT, 2 * GIB, BAD_NO_DATA),
    "rds-connections-high": ("AWS/RDS", "DatabaseConnections", RDS, "Maximum", GT, 60, OK_NO_DATA),
    "redis-1-cpu-high": ("AWS/ElastiCache", "EngineCPUUtilization", REDIS_1, "Average", GT, 80, OK_NO_DATA),
    "redis-1-memory-high": ("AWS/ElastiCache", "DatabaseMemoryUsagePercentage", REDIS_1, "Maximum", GT, 80, OK_NO_DATA),
    "redis-2-cpu-high": ("AWS/ElastiCache", "EngineCPUUtilization", REDIS_2, "Average", GT, 80, OK_NO_DATA),
    "redis-2-memory-high": ("AWS/ElastiCache", "DatabaseMemoryUsagePercentage", REDIS_2, "Maximum", GT, 80, OK_NO_DATA),
    "login-failures-spike": ("AIDLC/Auth", "LoginFailures", {"Service": EMF_SERVICE}, "Sum", GT, 50, OK_NO_DATA),
    "logins-throttled": ("AIDLC/Auth", "LoginsThrottled", {"Service": EMF_SERVICE}, "Sum", GT, 50, OK_NO_DATA),
}


def _args() -> MonitoringArgs:
    return MonitoringArgs(
        region="us-east-1",
        alb_arn_suffix=pulumi.Output.from_input(ALB),
        target_group_arn_suffix=pulumi.Output.from_input(TG),
        cluster_name=pulumi.Output.from_input(CLUSTER),
        ecs_service_name=pulumi.Output.from_input(SERVICE),
        db_instance_identifier=pulumi.Output.from_input(DB),
        redis_member_cluster_ids=redis_member_cluster_ids(pulumi.Output.from_input(RG), 2),
        log_group_name=pulumi.Output.from_input(LOG_GROUP),
        metrics_service_name=EMF_SERVICE,
    )


@pytest.fixture(scope="module")
def graph() -> list[Recorded]:
    return build(lambda: Monitoring("mon", _args()))


@pytest.fixture(scope="module")
def alarms(graph: list[Recorded]) -> dict[str, dict[str, Any]]:
    return {r.name.removeprefix("mon-"): r.inputs for r in of_type(graph, ALARM)}


@pytest.fixture(scope="module")
def dashboard(graph: list[Recorded]) -> dict[str, Any]:
    (board,) = of_type(graph, "aws:cloudwatch/dashboard:Dashboard")
    body: dict[str, Any] = json.loads(board.inputs["dashboardBody"])
    return body


def test_exactly_the_listed_alarms_exist(alarms: dict[str, dict[str, Any]]) -> None:
    assert set(alarms) == set(EXPECTED)


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_alarm_watches_this_stacks_metric(key: str, alarms: dict[str, dict[str, Any]]) -> None:
    namespace, metric, dimensions, stat, comparison, threshold, missing = EXPECTED[key]
    alarm = alarms[key]
    assert (alarm["namespace"], alarm["metricName"]) == (namespace, metric)
    assert alarm["dimensions"] == dimensions
    assert alarm.get("statistic", alarm.get("extendedStatistic")) == stat
    assert alarm["comparisonOperator"] == comparison
    assert alarm["threshold"] == pytest.approx(threshold)
    assert alarm["treatMissingData"] == missing
    assert alarm["datapointsToAlarm"] <= alarm["evaluationPeriods"]


def test_no_alarm_has_actions(alarms: dict[str, dict[str, Any]]) -> None:
    for key, alarm in alarms.items():
        for field in ("alarmActions", "okActions", "insufficientDataActions"):
            assert not alarm.get(field), f"{key} has {field}"
        assert alarm["actionsEnabled"] is False, key


def test_percentile_alarm_ignores_low_sample_counts(alarms: dict[str, dict[str, Any]]) -> None:
    assert alarms["target-p95-latency"]["evaluateLowSampleCountPercentiles"] == "ignore"


def test_every_child_is_parented_to_the_component(graph: list[Recorded]) -> None:
    children = [r for r in graph if r.typ != "aidlc:monitoring:Monitoring"]
    assert children
    for child in children:
        assert child.parent_types[-1] == "aidlc:monitoring:Monitoring", child.name


def _widgets(dashboard: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [w["properties"] for w in dashboard["widgets"] if w["type"] == kind]


def _metric_lines(dashboard: dict[str, Any]) -> list[list[Any]]:
    return [line for widget in _widgets(dashboard, "metric") for line in widget["metrics"]]


def _dimension_values(line: list[Any]) -> list[str]:
    plain = [part for part in line if isinstance(part, str)]  # drop the trailing options dict
    return plain[3::2]  # namespace, metric, then (name, value) pairs


def test_dashboard_references_only_this_stacks_resources(dashboard: dict[str, Any], graph: list[Recorded]) -> None:
    lines = _metric_lines(dashboard)
    assert lines
    for line in lines:
        for value in _dimension_values(line):
            assert value in STACK_VALUES, f"{line} points outside the stack"
    alarm_arns = [arn for widget in _widgets(dashboard, "alarm") for arn in widget["alarms"]]
    assert len(alarm_arns) == len(EXPECTED)
    assert sorted(alarm_arns) == sorted(alarm.state["arn"] for alarm in of_type(graph, ALARM))
    (log_widget,) = _widgets(dashboard, "log")
    assert log_widget["query"].startswith(f"SOURCE '{LOG_GROUP}'")
    regions = {w["region"] for kind in ("metric", "log") for w in _widgets(dashboard, kind)}
    assert regions == {"us-east-1"}


@pytest.mark.parametrize(
    "metric",
    [
        "RequestCount",
        "HTTPCode_Target_4XX_Count",
        "HTTPCode_Target_5XX_Count",
        "HTTPCode_ELB_5XX_Count",
        "TargetResponseTime",
        "HealthyHostCount",
        "UnHealthyHostCount",
        "CPUUtilization",
        "MemoryUtilization",
        "RunningTaskCount",
        "DatabaseConnections",
        "FreeStorageSpace",
        "ReadLatency",
        "WriteLatency",
        "EngineCPUUtilization",
        "DatabaseMemoryUsagePercentage",
        "CurrConnections",
        "Evictions",
        "Registrations",
        "LoginSuccesses",
        "LoginFailures",
        "LoginsThrottled",
        "ReauthenticationsThrottled",
        "RegistrationsThrottled",
        "RefreshReuseDetected",
        "PurgedSessions",
        "PurgedAuditEvents",
        "PurgedDevices",
        "PurgeBacklog",
        "SessionsEvicted",
        "RefreshesThrottled",
        "ThrottleAuditUnattributed",
    ],
)
def test_dashboard_shows_metric(metric: str, dashboard: dict[str, Any]) -> None:
    assert metric in {line[1] for line in _metric_lines(dashboard)}


def test_dashboard_shows_latency_percentiles(dashboard: dict[str, Any]) -> None:
    stats = {
        line[-1]["stat"]
        for line in _metric_lines(dashboard)
        if line[1] == "TargetResponseTime" and isinstance(line[-1], dict)
    }
    assert stats == {"p50", "p95", "p99"}


def test_widgets_do_not_overlap(dashboard: dict[str, Any]) -> None:
    cells = [
        (x, y)
        for w in dashboard["widgets"]
        for x in range(w["x"], w["x"] + w["width"])
        for y in range(w["y"], w["y"] + w["height"])
    ]
    assert len(cells) == len(set(cells))
    assert all(w["x"] + w["width"] <= 24 for w in dashboard["widgets"])


def test_thresholds_are_overridable_from_config() -> None:
    pulumi.runtime.set_all_config({"aidlc-auth:alarmLoginFailuresPer5Minutes": "200"})
    try:
        thresholds = read_alarm_thresholds(pulumi.Config("aidlc-auth"))
    finally:
        pulumi.runtime.set_all_config({})
    assert thresholds.login_failures_per_5_minutes == 200
    assert thresholds.ecs_cpu_percent == AlarmThresholds().ecs_cpu_percent


@pytest.mark.parametrize("threshold", sorted(AlarmThresholds.__dataclass_fields__))
def test_every_threshold_has_its_config_key(threshold: str) -> None:
    """`alarm` + the field in PascalCase, e.g. `alarmTargetP95Seconds` (docs/operations.md)."""
    key = "alarm" + "".join(part.capitalize() for part in threshold.split("_"))
    pulumi.runtime.set_all_config({f"aidlc-auth:{key}": "123.5"})
    try:
        thresholds = read_alarm_thresholds(pulumi.Config("aidlc-auth"))
    finally:
        pulumi.runtime.set_all_config({})
    assert getattr(thresholds, threshold) == 123.5


def test_alarm_texts_name_the_health_path_the_load_balancer_really_checks(staging: StackGraph) -> None:
    """An operator reading `unhealthy-hosts` must not go looking at /health/ready (PostgreSQL and Redis): the
    target group checks the shallow path, which a Redis or PostgreSQL outage does not fail."""
    checked = staging.one("aws:lb/targetGroup:TargetGroup").plain["healthCheck"]["path"]
    named = {
        alarm.name: path
        for alarm in staging.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
        for path in re.findall(r"/health/[a-z]+", alarm.plain["alarmDescription"])
    }
    assert named, "an alarm about unhealthy targets should say which check they fail"
    assert set(named.values()) == {checked}, named
