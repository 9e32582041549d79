"""CloudWatch dashboard and alarms for one stack.

Alarms have no actions: by design there are no notifications (no SNS). They still change state, show on the
dashboard's alarm widget and in the CloudWatch console, which is what an operator watches during the event.
Each alarm says what missing data means for it (`treat_missing_data`), because "no data" means different
things: no traffic (fine) versus a database that stopped reporting (not fine).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pulumi
import pulumi_aws as aws

if TYPE_CHECKING:
    from components.compute import Compute
    from components.config import StackConfig
    from components.data import Data

GIB = 1024**3

# What the service emits as CloudWatch Embedded Metric Format (docs/container-contract.md).
AUTH_NAMESPACE = "AIDLC/Auth"
AUTH_METRICS = ("Registrations", "LoginSuccesses", "LoginFailures", "LoginsThrottled", "RefreshReuseDetected")

# treat_missing_data values, named for why they are chosen.
NO_DATA_IS_FINE = "notBreaching"  # no traffic / no events: nothing to alarm about
NO_DATA_IS_BAD = "breaching"  # the thing that should always report has gone quiet


@dataclass(frozen=True)
class AlarmThresholds:
    """Alarm thresholds; staging defaults sized for db.t4g.micro / cache.t4g.micro / 0.5 vCPU tasks."""

    ecs_cpu_percent: float = 80.0
    ecs_memory_percent: float = 80.0
    alb_5xx_per_minute: float = 5.0
    target_p95_seconds: float = 1.0
    unhealthy_hosts: float = 1.0
    rds_cpu_percent: float = 80.0
    rds_free_storage_bytes: float = 2.0 * GIB  # 10 % of the 20 GiB gp3 volume
    rds_connections: float = 80.0  # db.t4g.micro allows roughly 110 connections
    redis_cpu_percent: float = 80.0
    redis_memory_percent: float = 80.0
    login_failures_per_5_minutes: float = 50.0

    @classmethod
    def from_config(cls, config: pulumi.Config) -> AlarmThresholds:
        """Reads `alarmLoginFailuresPer5Minutes` etc.; unset keys keep the defaults."""
        defaults = cls()
        overrides = {
            name: value
            for name in cls.__dataclass_fields__
            if (value := config.get_float("alarm" + _pascal(name))) is not None
        }
        return cls(**{**defaults.__dict__, **overrides})


def _pascal(snake: str) -> str:
    return "".join(part.capitalize() for part in snake.split("_"))


@dataclass
class MonitoringArgs:
    """What the monitoring component watches; every input names a resource of this stack."""

    region: str
    alb_arn_suffix: pulumi.Input[str]
    target_group_arn_suffix: pulumi.Input[str]
    cluster_name: pulumi.Input[str]
    ecs_service_name: pulumi.Input[str]
    db_instance_identifier: pulumi.Input[str]
    redis_member_cluster_ids: Sequence[pulumi.Input[str]]
    log_group_name: pulumi.Input[str]
    metrics_service_name: pulumi.Input[str]  # SERVICE_NAME of the task: the EMF `Service` dimension
    thresholds: AlarmThresholds = field(default_factory=AlarmThresholds)

    @classmethod
    def for_stack(cls, config: StackConfig, data: Data, compute: Compute) -> MonitoringArgs:
        return cls(
            region=config.compute.region,
            alb_arn_suffix=compute.alb_arn_suffix,
            target_group_arn_suffix=compute.target_group_arn_suffix,
            cluster_name=compute.cluster_name,
            ecs_service_name=compute.service_name,
            db_instance_identifier=data.db_instance_identifier,
            redis_member_cluster_ids=redis_member_cluster_ids(
                data.redis_replication_group_id, config.data.cache_node_count
            ),
            log_group_name=compute.log_group_name,
            metrics_service_name=config.compute.service_name,
            thresholds=config.alarms,
        )


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
    period: int = 60
    evaluation_periods: int = 5
    datapoints_to_alarm: int = 5
    statistic: str | None = "Average"
    extended_statistic: str | None = None


def redis_member_cluster_ids(replication_group_id: pulumi.Input[str], count: int) -> list[pulumi.Output[str]]:
    """ElastiCache names the member clusters of a replication group `<group id>-001`, `-002`, ..."""
    return [pulumi.Output.concat(replication_group_id, f"-{n:03d}") for n in range(1, count + 1)]


def alarm_specs(args: MonitoringArgs) -> list[AlarmSpec]:
    return [
        *_ecs_alarms(args),
        *_alb_alarms(args),
        *_rds_alarms(args),
        *_redis_alarms(args),
        _auth_alarm(args),
    ]


def _ecs_alarms(args: MonitoringArgs) -> list[AlarmSpec]:
    dims = {"ClusterName": args.cluster_name, "ServiceName": args.ecs_service_name}
    t = args.thresholds
    return [
        AlarmSpec(
            "ecs-cpu-high",
            "ECS service CPU above threshold for 5 minutes (no tasks = no data = OK;"
            " the healthy-hosts alarm covers that)",
            "AWS/ECS",
            "CPUUtilization",
            dims,
            "GreaterThanThreshold",
            t.ecs_cpu_percent,
            NO_DATA_IS_FINE,
        ),
        AlarmSpec(
            "ecs-memory-high",
            "ECS service memory above threshold for 5 minutes",
            "AWS/ECS",
            "MemoryUtilization",
            dims,
            "GreaterThanThreshold",
            t.ecs_memory_percent,
            NO_DATA_IS_FINE,
        ),
    ]


def _alb_alarms(args: MonitoringArgs) -> list[AlarmSpec]:
    lb = {"LoadBalancer": args.alb_arn_suffix}
    tg = {"LoadBalancer": args.alb_arn_suffix, "TargetGroup": args.target_group_arn_suffix}
    t = args.thresholds
    return [
        AlarmSpec(
            "alb-target-5xx",
            "The service answered 5xx more than the threshold per minute (3 of 5"
            " minutes); no requests = no data = OK",
            "AWS/ApplicationELB",
            "HTTPCode_Target_5XX_Count",
            tg,
            "GreaterThanThreshold",
            t.alb_5xx_per_minute,
            NO_DATA_IS_FINE,
            statistic="Sum",
            datapoints_to_alarm=3,
        ),
        AlarmSpec(
            "alb-elb-5xx",
            "The load balancer itself answered 5xx (502/503/504: no healthy or"
            " crashing targets), 3 of 5 minutes",
            "AWS/ApplicationELB",
            "HTTPCode_ELB_5XX_Count",
            lb,
            "GreaterThanThreshold",
            t.alb_5xx_per_minute,
            NO_DATA_IS_FINE,
            statistic="Sum",
            datapoints_to_alarm=3,
        ),
        AlarmSpec(
            "target-p95-latency",
            "p95 target response time above threshold (3 of 5 minutes); no requests = no data = OK",
            "AWS/ApplicationELB",
            "TargetResponseTime",
            tg,
            "GreaterThanThreshold",
            t.target_p95_seconds,
            NO_DATA_IS_FINE,
            statistic=None,
            extended_statistic="p95",
            datapoints_to_alarm=3,
        ),
        AlarmSpec(
            "unhealthy-hosts",
            "At least one target failed /health/ready for 5 minutes (longer than a rolling deployment)",
            "AWS/ApplicationELB",
            "UnHealthyHostCount",
            tg,
            "GreaterThanOrEqualToThreshold",
            t.unhealthy_hosts,
            NO_DATA_IS_FINE,
            statistic="Maximum",
        ),
        AlarmSpec(
            "healthy-hosts-none",
            "No healthy target for 2 minutes: the site is down. Missing data is"
            " breaching because an empty target group stops reporting",
            "AWS/ApplicationELB",
            "HealthyHostCount",
            tg,
            "LessThanThreshold",
            1.0,
            NO_DATA_IS_BAD,
            statistic="Minimum",
            evaluation_periods=2,
            datapoints_to_alarm=2,
        ),
    ]


def _rds_alarms(args: MonitoringArgs) -> list[AlarmSpec]:
    dims = {"DBInstanceIdentifier": args.db_instance_identifier}
    t = args.thresholds
    return [
        AlarmSpec(
            "rds-cpu-high",
            "RDS CPU above threshold for 15 minutes",
            "AWS/RDS",
            "CPUUtilization",
            dims,
            "GreaterThanThreshold",
            t.rds_cpu_percent,
            NO_DATA_IS_FINE,
            period=300,
            evaluation_periods=3,
            datapoints_to_alarm=3,
        ),
        AlarmSpec(
            "rds-free-storage-low",
            "RDS free storage below threshold. Missing data is breaching: an"
            " instance always reports storage, silence means it is gone",
            "AWS/RDS",
            "FreeStorageSpace",
            dims,
            "LessThanThreshold",
            t.rds_free_storage_bytes,
            NO_DATA_IS_BAD,
            statistic="Minimum",
            period=300,
            evaluation_periods=1,
            datapoints_to_alarm=1,
        ),
        AlarmSpec(
            "rds-connections-high",
            "RDS connections near the instance limit for 10 minutes",
            "AWS/RDS",
            "DatabaseConnections",
            dims,
            "GreaterThanThreshold",
            t.rds_connections,
            NO_DATA_IS_FINE,
            statistic="Maximum",
            period=300,
            evaluation_periods=2,
            datapoints_to_alarm=2,
        ),
    ]


def _redis_alarms(args: MonitoringArgs) -> list[AlarmSpec]:
    t = args.thresholds
    specs: list[AlarmSpec] = []
    for n, member in enumerate(args.redis_member_cluster_ids, start=1):
        dims = {"CacheClusterId": member}
        specs += [
            AlarmSpec(
                f"redis-{n}-cpu-high",
                "Redis engine (main thread) CPU above threshold for 10 minutes",
                "AWS/ElastiCache",
                "EngineCPUUtilization",
                dims,
                "GreaterThanThreshold",
                t.redis_cpu_percent,
                NO_DATA_IS_FINE,
                period=300,
                evaluation_periods=2,
                datapoints_to_alarm=2,
            ),
            AlarmSpec(
                f"redis-{n}-memory-high",
                "Redis memory use above threshold of maxmemory for 10"
                " minutes (evictions would drop sessions and rate-limit counters)",
                "AWS/ElastiCache",
                "DatabaseMemoryUsagePercentage",
                dims,
                "GreaterThanThreshold",
                t.redis_memory_percent,
                NO_DATA_IS_FINE,
                statistic="Maximum",
                period=300,
                evaluation_periods=2,
                datapoints_to_alarm=2,
            ),
        ]
    return specs


def _auth_alarm(args: MonitoringArgs) -> AlarmSpec:
    return AlarmSpec(
        "login-failures-spike",
        "Failed logins above threshold in 5 minutes (credential stuffing or a broken"
        " client); the service emits nothing when nobody fails, so no data = OK",
        AUTH_NAMESPACE,
        "LoginFailures",
        {"Service": args.metrics_service_name},
        "GreaterThanThreshold",
        args.thresholds.login_failures_per_5_minutes,
        NO_DATA_IS_FINE,
        statistic="Sum",
        period=300,
        evaluation_periods=1,
        datapoints_to_alarm=1,
    )


class Monitoring(pulumi.ComponentResource):
    """Dashboard plus alarms (without actions) for the stack's ALB, ECS, RDS, Redis and auth metrics."""

    alarms: dict[str, aws.cloudwatch.MetricAlarm]
    dashboard: aws.cloudwatch.Dashboard
    dashboard_name: pulumi.Output[str]
    dashboard_url: pulumi.Output[str]

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("aidlc:monitoring:Monitoring", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.alarms = {spec.key: _alarm(f"{name}-{spec.key}", spec, child) for spec in alarm_specs(args)}
        self.dashboard = aws.cloudwatch.Dashboard(
            f"{name}-dashboard",
            dashboard_name=name,
            dashboard_body=pulumi.Output.json_dumps(dashboard_body(args, list(self.alarms.values()))),
            opts=child,
        )
        self.dashboard_name = self.dashboard.dashboard_name
        self.dashboard_url = self.dashboard_name.apply(lambda board: dashboard_console_url(args.region, board))
        self.register_outputs(
            {
                "dashboard_name": self.dashboard_name,
                "dashboard_url": self.dashboard_url,
                "alarm_arns": {key: alarm.arn for key, alarm in self.alarms.items()},
            }
        )


def dashboard_console_url(region: str, dashboard_name: str) -> str:
    """Where the on-call person opens the dashboard (printed by `make alarms`)."""
    console = f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
    return f"{console}#dashboards/dashboard/{dashboard_name}"


def _alarm(resource_name: str, spec: AlarmSpec, opts: pulumi.ResourceOptions) -> aws.cloudwatch.MetricAlarm:
    return aws.cloudwatch.MetricAlarm(
        resource_name,
        alarm_description=spec.description,
        namespace=spec.namespace,
        metric_name=spec.metric_name,
        dimensions=dict(spec.dimensions),
        statistic=spec.statistic,
        extended_statistic=spec.extended_statistic,
        evaluate_low_sample_count_percentiles="ignore" if spec.extended_statistic else None,
        period=spec.period,
        evaluation_periods=spec.evaluation_periods,
        datapoints_to_alarm=spec.datapoints_to_alarm,
        comparison_operator=spec.comparison,
        threshold=spec.threshold,
        treat_missing_data=spec.treat_missing_data,
        actions_enabled=False,  # no SNS, by design; state changes are visible on the dashboard
        opts=opts,
    )


# ---------------------------------------------------------------------------------------------- dashboard


def dashboard_body(args: MonitoringArgs, alarms: Sequence[aws.cloudwatch.MetricAlarm]) -> dict[str, Any]:
    """The dashboard as a dict of Inputs (`Output.json_dumps` resolves them)."""
    rows: list[list[dict[str, Any]]] = [
        _alb_widgets(args),
        _ecs_widgets(args),
        _rds_widgets(args),
        _redis_widgets(args),
        _auth_widgets(args),
        [_alarm_widget(alarms), _log_widget(args)],
    ]
    widgets: list[dict[str, Any]] = []
    for y, row in enumerate(rows):
        width = 24 // len(row)
        for x, widget in enumerate(row):
            widgets.append({**widget, "x": x * width, "y": y * 6, "width": width, "height": 6})
    return {"widgets": widgets}


def _graph(
    args: MonitoringArgs, title: str, metrics: list[list[Any]], stat: str = "Average", period: int = 60
) -> dict[str, Any]:
    return {
        "type": "metric",
        "properties": {
            "title": title,
            "region": args.region,
            "view": "timeSeries",
            "stat": stat,
            "period": period,
            "metrics": metrics,
        },
    }


def _alb_widgets(args: MonitoringArgs) -> list[dict[str, Any]]:
    lb = ["LoadBalancer", args.alb_arn_suffix]
    tg = ["LoadBalancer", args.alb_arn_suffix, "TargetGroup", args.target_group_arn_suffix]
    alb = "AWS/ApplicationELB"
    return [
        _graph(
            args,
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
            args,
            "Target response time (s)",
            [[alb, "TargetResponseTime", *tg, {"stat": p, "label": p}] for p in ("p50", "p95", "p99")],
        ),
        _graph(
            args,
            "Healthy / unhealthy targets",
            [
                [alb, "HealthyHostCount", *tg, {"stat": "Minimum"}],
                [alb, "UnHealthyHostCount", *tg, {"stat": "Maximum"}],
            ],
        ),
    ]


def _ecs_widgets(args: MonitoringArgs) -> list[dict[str, Any]]:
    svc = ["ClusterName", args.cluster_name, "ServiceName", args.ecs_service_name]
    return [
        _graph(
            args,
            "ECS CPU and memory (%)",
            [
                ["AWS/ECS", "CPUUtilization", *svc],
                ["AWS/ECS", "MemoryUtilization", *svc],
            ],
        ),
        _graph(
            args,
            "ECS running tasks (Container Insights)",
            [
                ["ECS/ContainerInsights", "RunningTaskCount", *svc],
                ["ECS/ContainerInsights", "DesiredTaskCount", *svc],
            ],
            stat="Maximum",
        ),
    ]


def _rds_widgets(args: MonitoringArgs) -> list[dict[str, Any]]:
    db = ["DBInstanceIdentifier", args.db_instance_identifier]
    return [
        _graph(
            args,
            "RDS CPU (%) and connections",
            [
                ["AWS/RDS", "CPUUtilization", *db],
                ["AWS/RDS", "DatabaseConnections", *db, {"yAxis": "right"}],
            ],
        ),
        _graph(args, "RDS free storage (bytes)", [["AWS/RDS", "FreeStorageSpace", *db]], stat="Minimum"),
        _graph(
            args,
            "RDS read/write latency (s)",
            [
                ["AWS/RDS", "ReadLatency", *db],
                ["AWS/RDS", "WriteLatency", *db],
            ],
        ),
    ]


def _redis_widgets(args: MonitoringArgs) -> list[dict[str, Any]]:
    def per_member(metric: str) -> list[list[Any]]:
        return [["AWS/ElastiCache", metric, "CacheClusterId", m] for m in args.redis_member_cluster_ids]

    return [
        _graph(args, "Redis engine CPU (%)", per_member("EngineCPUUtilization")),
        _graph(
            args,
            "Redis memory used (% of maxmemory)",
            per_member("DatabaseMemoryUsagePercentage"),
            stat="Maximum",
        ),
        _graph(args, "Redis connections", per_member("CurrConnections"), stat="Maximum"),
        _graph(args, "Redis evictions", per_member("Evictions"), stat="Sum"),
    ]


def _auth_widgets(args: MonitoringArgs) -> list[dict[str, Any]]:
    svc = ["Service", args.metrics_service_name]
    return [
        _graph(
            args,
            "Auth events (per 5 minutes)",
            [[AUTH_NAMESPACE, metric, *svc] for metric in AUTH_METRICS],
            stat="Sum",
            period=300,
        ),
    ]


def _alarm_widget(alarms: Sequence[aws.cloudwatch.MetricAlarm]) -> dict[str, Any]:
    return {"type": "alarm", "properties": {"title": "Alarms", "alarms": [a.arn for a in alarms]}}


def _log_widget(args: MonitoringArgs) -> dict[str, Any]:
    query = pulumi.Output.concat(
        "SOURCE '",
        args.log_group_name,
        "' | fields @timestamp, @message"
        " | filter @message like /ERROR|Traceback/ | sort @timestamp desc | limit 50",
    )
    return {
        "type": "log",
        "properties": {"title": "Recent errors", "region": args.region, "query": query, "view": "table"},
    }
