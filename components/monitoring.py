"""CloudWatch dashboard and alarms for one stack: the component that creates what alarms.py and dashboard.py
declare.

Alarms have no actions: by design there are no notifications (no SNS); see components/alarms.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.alarms import AlarmSpec, WatchedResources, alarm_specs
from components.config import AlarmThresholds
from components.dashboard import dashboard_body, dashboard_console_url


@dataclass(frozen=True)
class MonitoringArgs(WatchedResources):
    """The resources to watch (every input names a resource of this stack) and the alarms' thresholds."""

    thresholds: AlarmThresholds = field(default_factory=AlarmThresholds)


class Monitoring(pulumi.ComponentResource):
    """Dashboard plus alarms (without actions) for the stack's ALB, ECS, RDS, Redis and auth metrics."""

    alarms: dict[str, aws.cloudwatch.MetricAlarm]
    dashboard: aws.cloudwatch.Dashboard
    dashboard_name: pulumi.Output[str]
    dashboard_url: pulumi.Output[str]

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("aidlc:monitoring:Monitoring", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.alarms = {
            spec.key: _alarm(f"{name}-{spec.key}", spec, child) for spec in alarm_specs(args, args.thresholds)
        }
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
        period=spec.window.period,
        evaluation_periods=spec.window.evaluation_periods,
        datapoints_to_alarm=spec.window.datapoints_to_alarm,
        comparison_operator=spec.comparison,
        threshold=spec.threshold,
        treat_missing_data=spec.treat_missing_data,
        actions_enabled=False,  # no SNS, by design; state changes are visible on the dashboard
        opts=opts,
    )
