"""The stack's CloudWatch dashboard: one row per tier (ALB, ECS, RDS, Redis, auth events), then alarms and errors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_aws as aws

from components.alarms import AUTH_METRICS, AUTH_NAMESPACE, THROTTLE_METRICS, WatchedResources

# What keeps the tables bounded (docs/operations.md, "Data retention"): the purge's counts and backlog, the session
# cap's evictions, the refresh throttle, and 429s the throttle audit could not attribute. Graphed, never alarmed.
LIFECYCLE_METRICS = (
    "PurgedSessions",
    "PurgedAuditEvents",
    "PurgedDevices",
    "PurgeBacklog",
    "SessionsEvicted",
    "RefreshesThrottled",
    "ThrottleAuditUnattributed",
)


def dashboard_console_url(region: str, dashboard_name: str) -> str:
    """Where the on-call person opens the dashboard (printed by `make alarms`)."""
    console = f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
    return f"{console}#dashboards/dashboard/{dashboard_name}"


def dashboard_body(watched: WatchedResources, alarms: Sequence[aws.cloudwatch.MetricAlarm]) -> dict[str, Any]:
    """The dashboard as a dict of Inputs (`Output.json_dumps` resolves them)."""
    rows: list[list[dict[str, Any]]] = [
        _alb_widgets(watched),
        _ecs_widgets(watched),
        _rds_widgets(watched),
        _redis_widgets(watched),
        _auth_widgets(watched),
        [_alarm_widget(alarms), _log_widget(watched)],
    ]
    widgets: list[dict[str, Any]] = []
    for y, row in enumerate(rows):
        width = 24 // len(row)
        for x, widget in enumerate(row):
            widgets.append({**widget, "x": x * width, "y": y * 6, "width": width, "height": 6})
    return {"widgets": widgets}


def _graph(
    watched: WatchedResources, title: str, metrics: list[list[Any]], stat: str = "Average", period: int = 60
) -> dict[str, Any]:
    return {
        "type": "metric",
        "properties": {
            "title": title,
            "region": watched.region,
            "view": "timeSeries",
            "stat": stat,
            "period": period,
            "metrics": metrics,
        },
    }


def _alb_widgets(watched: WatchedResources) -> list[dict[str, Any]]:
    lb = ["LoadBalancer", watched.alb_arn_suffix]
    tg = ["LoadBalancer", watched.alb_arn_suffix, "TargetGroup", watched.target_group_arn_suffix]
    alb = "AWS/ApplicationELB"
    return [
        _graph(
            watched,
            "ALB requests and errors",
            [
                [alb, "RequestCount", *lb],
                [alb, "HTTPCode_Target_4XX_Count", *tg],
                [alb, "HTTPCode_Target_5XX_Count", *tg],
                [alb, "HTTPCode_ELB_4XX_Count", *lb],
                [alb, "HTTPCode_ELB_5XX_Count", *lb],
            ],
            stat="Sum",
        ),
        _graph(
            watched,
            "Target response time (s)",
            [[alb, "TargetResponseTime", *tg, {"stat": p, "label": p}] for p in ("p50", "p95", "p99")],
        ),
        _graph(
            watched,
            "Healthy / unhealthy targets",
            [
                [alb, "HealthyHostCount", *tg, {"stat": "Minimum"}],
                [alb, "UnHealthyHostCount", *tg, {"stat": "Maximum"}],
            ],
        ),
    ]


def _ecs_widgets(watched: WatchedResources) -> list[dict[str, Any]]:
    svc = ["ClusterName", watched.cluster_name, "ServiceName", watched.ecs_service_name]
    return [
        _graph(
            watched,
            "ECS CPU and memory (%)",
            [
                ["AWS/ECS", "CPUUtilization", *svc],
                ["AWS/ECS", "MemoryUtilization", *svc],
            ],
        ),
        _graph(
            watched,
            "ECS running tasks (Container Insights)",
            [
                ["ECS/ContainerInsights", "RunningTaskCount", *svc],
                ["ECS/ContainerInsights", "DesiredTaskCount", *svc],
            ],
            stat="Maximum",
        ),
    ]


def _rds_widgets(watched: WatchedResources) -> list[dict[str, Any]]:
    db = ["DBInstanceIdentifier", watched.db_instance_identifier]
    return [
        _graph(
            watched,
            "RDS CPU (%) and connections",
            [
                ["AWS/RDS", "CPUUtilization", *db],
                ["AWS/RDS", "DatabaseConnections", *db, {"yAxis": "right"}],
            ],
        ),
        _graph(watched, "RDS free storage (bytes)", [["AWS/RDS", "FreeStorageSpace", *db]], stat="Minimum"),
        _graph(
            watched,
            "RDS read/write latency (s)",
            [
                ["AWS/RDS", "ReadLatency", *db],
                ["AWS/RDS", "WriteLatency", *db],
            ],
        ),
    ]


def _redis_widgets(watched: WatchedResources) -> list[dict[str, Any]]:
    def per_member(metric: str) -> list[list[Any]]:
        return [["AWS/ElastiCache", metric, "CacheClusterId", m] for m in watched.redis_member_cluster_ids]

    return [
        _graph(watched, "Redis engine CPU (%)", per_member("EngineCPUUtilization")),
        _graph(
            watched,
            "Redis memory used (% of maxmemory)",
            per_member("DatabaseMemoryUsagePercentage"),
            stat="Maximum",
        ),
        _graph(watched, "Redis connections", per_member("CurrConnections"), stat="Maximum"),
        _graph(watched, "Redis evictions", per_member("Evictions"), stat="Sum"),
    ]


def _auth_widgets(watched: WatchedResources) -> list[dict[str, Any]]:
    svc = ["Service", watched.metrics_service_name]
    return [
        _graph(
            watched,
            "Auth events (per 5 minutes)",
            [[AUTH_NAMESPACE, metric, *svc] for metric in AUTH_METRICS],
            stat="Sum",
            period=300,
        ),
        _graph(
            watched,
            "Throttled (429) per minute: make unblock lifts a block",
            [[AUTH_NAMESPACE, metric, *svc] for metric in THROTTLE_METRICS],
            stat="Sum",
        ),
        _graph(
            watched,
            "Data lifecycle (per 5 minutes): a PurgeBacklog run after run needs PURGE_MAX_BATCHES raised",
            [[AUTH_NAMESPACE, metric, *svc] for metric in LIFECYCLE_METRICS],
            stat="Sum",
            period=300,
        ),
    ]


def _alarm_widget(alarms: Sequence[aws.cloudwatch.MetricAlarm]) -> dict[str, Any]:
    return {"type": "alarm", "properties": {"title": "Alarms", "alarms": [a.arn for a in alarms]}}


def _log_widget(watched: WatchedResources) -> dict[str, Any]:
    query = pulumi.Output.concat(
        "SOURCE '",
        watched.log_group_name,
        "' | fields @timestamp, @message | filter @message like /ERROR|Traceback/ | sort @timestamp desc | limit 50",
    )
    return {
        "type": "log",
        "properties": {"title": "Recent errors", "region": watched.region, "query": query, "view": "table"},
    }
