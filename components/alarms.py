"""The stack's alarms as one table: what each watches, when it fires, and what missing data means for it.

Alarms have no actions: by design there are no notifications (no SNS). They still change state, show on the
dashboard's alarm widget and in the CloudWatch console, which is what an operator watches during the event.
Each alarm says what missing data means for it (`missing=`), because "no data" means different things: no
traffic (fine) versus a database that stopped reporting (not fine).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi

from components.compute import TARGET_HEALTH_PATH
from components.config import AlarmThresholds

# What the service emits as CloudWatch Embedded Metric Format (docs/container-contract.md).
AUTH_NAMESPACE = "AIDLC/Auth"
AUTH_METRICS = ("Registrations", "LoginSuccesses", "LoginFailures", "LoginsThrottled", "RefreshReuseDetected")
# Every 429 of the password operations (login, re-authentication, registration): the dashboard's throttling widget.
THROTTLE_METRICS = ("LoginsThrottled", "ReauthenticationsThrottled", "RegistrationsThrottled")

# treat_missing_data values, named for why they are chosen.
NO_DATA_IS_FINE = "notBreaching"  # no traffic / no events: nothing to alarm about
NO_DATA_IS_BAD = "breaching"  # the thing that should always report has gone quiet

ECS = "AWS/ECS"
ALB = "AWS/ApplicationELB"
RDS = "AWS/RDS"
ELASTICACHE = "AWS/ElastiCache"


@dataclass(frozen=True)
class WatchedResources:
    """What the alarms and the dashboard watch; every input names a resource of this stack."""

    region: str
    alb_arn_suffix: pulumi.Input[str]
    target_group_arn_suffix: pulumi.Input[str]
    cluster_name: pulumi.Input[str]
    ecs_service_name: pulumi.Input[str]
    db_instance_identifier: pulumi.Input[str]
    redis_member_cluster_ids: Sequence[pulumi.Input[str]]
    log_group_name: pulumi.Input[str]
    metrics_service_name: pulumi.Input[str]  # SERVICE_NAME of the task: the EMF `Service` dimension


@dataclass(frozen=True)
class Window:
    """An alarm fires when `datapoints_to_alarm` of the last `evaluation_periods` periods of `period` seconds
    breach."""

    period: int
    evaluation_periods: int
    datapoints_to_alarm: int


FIVE_MINUTES = Window(60, 5, 5)
THREE_OF_FIVE_MINUTES = Window(60, 5, 3)
TWO_MINUTES = Window(60, 2, 2)
TEN_MINUTES = Window(300, 2, 2)
FIFTEEN_MINUTES = Window(300, 3, 3)
ONE_FIVE_MINUTE_PERIOD = Window(300, 1, 1)


@dataclass(frozen=True)
class AlarmSpec:
    """One alarm, as data: tests and docs read the same table the component builds from."""

    key: str
    description: str
    namespace: str
    metric_name: str
    dimensions: Mapping[str, pulumi.Input[str]]
    comparison: str
    threshold: float
    treat_missing_data: str
    window: Window
    statistic: str | None
    extended_statistic: str | None  # a percentile ("p95") instead of a statistic


def alarm_specs(watched: WatchedResources, t: AlarmThresholds) -> list[AlarmSpec]:
    ecs = {"ClusterName": watched.cluster_name, "ServiceName": watched.ecs_service_name}
    lb = {"LoadBalancer": watched.alb_arn_suffix}
    tg = {**lb, "TargetGroup": watched.target_group_arn_suffix}
    db = {"DBInstanceIdentifier": watched.db_instance_identifier}
    return [
        _alarm("ecs-cpu-high", ECS, "CPUUtilization", ecs, above=t.ecs_cpu_percent, missing=NO_DATA_IS_FINE,
               why="ECS service CPU above threshold for 5 minutes (no tasks = no data = OK;"
                   " the healthy-hosts alarm covers that)"),
        _alarm("ecs-memory-high", ECS, "MemoryUtilization", ecs, above=t.ecs_memory_percent, missing=NO_DATA_IS_FINE,
               why="ECS service memory above threshold for 5 minutes"),
        _alarm("alb-target-5xx", ALB, "HTTPCode_Target_5XX_Count", tg, above=t.alb_5xx_per_minute, stat="Sum",
               window=THREE_OF_FIVE_MINUTES, missing=NO_DATA_IS_FINE,
               why="The service answered 5xx more than the threshold per minute (3 of 5"
                   " minutes); no requests = no data = OK"),
        _alarm("alb-elb-5xx", ALB, "HTTPCode_ELB_5XX_Count", lb, above=t.alb_5xx_per_minute, stat="Sum",
               window=THREE_OF_FIVE_MINUTES, missing=NO_DATA_IS_FINE,
               why="The load balancer itself answered 5xx (502/503/504: no healthy or"
                   " crashing targets), 3 of 5 minutes"),
        _alarm("target-p95-latency", ALB, "TargetResponseTime", tg, above=t.target_p95_seconds, stat="p95",
               window=THREE_OF_FIVE_MINUTES, missing=NO_DATA_IS_FINE,
               why="p95 target response time above threshold (3 of 5 minutes); no requests = no data = OK"),
        _alarm("unhealthy-hosts", ALB, "UnHealthyHostCount", tg, at_least=t.unhealthy_hosts, stat="Maximum",
               missing=NO_DATA_IS_FINE,
               why=f"At least one target failed the load balancer's health check ({TARGET_HEALTH_PATH}) for 5"
                   " minutes (longer than a rolling deployment)"),
        _alarm("healthy-hosts-none", ALB, "HealthyHostCount", tg, below=1.0, stat="Minimum", window=TWO_MINUTES,
               missing=NO_DATA_IS_BAD,
               why="No healthy target for 2 minutes: the site is down. Missing data is"
                   " breaching because an empty target group stops reporting"),
        _alarm("rds-cpu-high", RDS, "CPUUtilization", db, above=t.rds_cpu_percent, window=FIFTEEN_MINUTES,
               missing=NO_DATA_IS_FINE, why="RDS CPU above threshold for 15 minutes"),
        _alarm("rds-free-storage-low", RDS, "FreeStorageSpace", db, below=t.rds_free_storage_bytes, stat="Minimum",
               window=ONE_FIVE_MINUTE_PERIOD, missing=NO_DATA_IS_BAD,
               why="RDS free storage below threshold. Missing data is breaching: an"
                   " instance always reports storage, silence means it is gone"),
        _alarm("rds-connections-high", RDS, "DatabaseConnections", db, above=t.rds_connections, stat="Maximum",
               window=TEN_MINUTES, missing=NO_DATA_IS_FINE,
               why="RDS connections above what every task of the scaling maximum, doubled by a rolling deploy,"
                   " can open (a fraction of the pinned max_connections) for 10 minutes"),
        *[
            alarm
            for n, member in enumerate(watched.redis_member_cluster_ids, start=1)
            for alarm in _redis_alarms(n, {"CacheClusterId": member}, t)
        ],
        _alarm("login-failures-spike", AUTH_NAMESPACE, "LoginFailures", {"Service": watched.metrics_service_name},
               above=t.login_failures_per_5_minutes, stat="Sum", window=ONE_FIVE_MINUTE_PERIOD,
               missing=NO_DATA_IS_FINE,
               why="Failed logins above threshold in 5 minutes (credential stuffing or a broken"
                   " client); the service emits nothing when nobody fails, so no data = OK"),
        _alarm("logins-throttled", AUTH_NAMESPACE, "LoginsThrottled", {"Service": watched.metrics_service_name},
               above=t.throttled_logins_per_5_minutes, stat="Sum", window=ONE_FIVE_MINUTE_PERIOD,
               missing=NO_DATA_IS_FINE,
               why="Logins answered 429 above threshold in 5 minutes: an attack, or people locked out."
                   " See who in the audit trail (login_throttled, with the address) and lift a block with"
                   " make unblock ACCOUNT=... or IP=... (docs/operations.md); no data = nobody throttled = OK"),
    ]  # fmt: skip


def _redis_alarms(n: int, member: Mapping[str, pulumi.Input[str]], t: AlarmThresholds) -> list[AlarmSpec]:
    """The alarms of the n-th member cluster of the replication group (one per node)."""
    return [
        _alarm(f"redis-{n}-cpu-high", ELASTICACHE, "EngineCPUUtilization", member, above=t.redis_cpu_percent,
               window=TEN_MINUTES, missing=NO_DATA_IS_FINE,
               why="Redis engine (main thread) CPU above threshold for 10 minutes"),
        _alarm(f"redis-{n}-memory-high", ELASTICACHE, "DatabaseMemoryUsagePercentage", member,
               above=t.redis_memory_percent, stat="Maximum", window=TEN_MINUTES, missing=NO_DATA_IS_FINE,
               why="Redis memory use above threshold of maxmemory for 10"
                   " minutes (evictions would drop sessions and rate-limit counters)"),
    ]  # fmt: skip


def _alarm(
    key: str,
    namespace: str,
    metric_name: str,
    dimensions: Mapping[str, pulumi.Input[str]],
    *,
    missing: str,
    why: str,
    above: float | None = None,
    at_least: float | None = None,
    below: float | None = None,
    stat: str = "Average",
    window: Window = FIVE_MINUTES,
) -> AlarmSpec:
    """One row of the table: exactly one of `above`, `at_least`, `below` is the threshold."""
    comparisons = {
        "GreaterThanThreshold": above,
        "GreaterThanOrEqualToThreshold": at_least,
        "LessThanThreshold": below,
    }
    ((comparison, threshold),) = [(name, value) for name, value in comparisons.items() if value is not None]
    percentile = stat.startswith("p")
    return AlarmSpec(
        key=key,
        description=why,
        namespace=namespace,
        metric_name=metric_name,
        dimensions=dimensions,
        comparison=comparison,
        threshold=threshold,
        treat_missing_data=missing,
        window=window,
        statistic=None if percentile else stat,
        extended_statistic=stat if percentile else None,
    )
