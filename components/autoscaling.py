"""Application Auto Scaling for the ECS service: a min/max task range and three target-tracking policies.

Target tracking on CPU, memory and ALB requests per target: whichever asks for the most tasks wins, and
scale-in happens only when all of them agree. Scale-out reacts after one minute, scale-in waits five, so a
burst at the event adds tasks quickly and a short lull does not flap them away.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
from pulumi_aws.appautoscaling import (
    PolicyTargetTrackingScalingPolicyConfigurationArgs as TargetTracking,
)
from pulumi_aws.appautoscaling import (
    PolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecificationArgs as PredefinedMetric,
)

from components.config import ScalingSettings


@dataclass(frozen=True)
class AutoScalingArgs:
    cluster_name: pulumi.Input[str]
    ecs_service_name: pulumi.Input[str]
    alb_arn_suffix: pulumi.Input[str]
    target_group_arn_suffix: pulumi.Input[str]
    settings: ScalingSettings = field(default_factory=ScalingSettings)


class AutoScaling(pulumi.ComponentResource):
    """Scalable target for the service's desired count plus CPU, memory and request-count policies."""

    target: aws.appautoscaling.Target
    policies: dict[str, aws.appautoscaling.Policy]

    def __init__(self, name: str, args: AutoScalingArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("aidlc:autoscaling:AutoScaling", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        s = args.settings
        self.target = aws.appautoscaling.Target(
            f"{name}-target",
            service_namespace="ecs",
            scalable_dimension="ecs:service:DesiredCount",
            resource_id=pulumi.Output.concat("service/", args.cluster_name, "/", args.ecs_service_name),
            min_capacity=s.min_tasks,
            max_capacity=s.max_tasks,
            opts=child,
        )
        request_label = pulumi.Output.concat(args.alb_arn_suffix, "/", args.target_group_arn_suffix)
        metrics: dict[str, tuple[str, float, pulumi.Input[str] | None]] = {
            "cpu": ("ECSServiceAverageCPUUtilization", s.cpu_target_percent, None),
            "memory": ("ECSServiceAverageMemoryUtilization", s.memory_target_percent, None),
            "requests": ("ALBRequestCountPerTarget", s.requests_per_target_per_minute, request_label),
        }
        self.policies = {
            key: self._policy(f"{name}-{key}", metric, value, label, s, child)
            for key, (metric, value, label) in metrics.items()
        }
        self.register_outputs(
            {
                "min_tasks": s.min_tasks,
                "max_tasks": s.max_tasks,
                "policy_arns": {key: policy.arn for key, policy in self.policies.items()},
            }
        )

    def _policy(
        self,
        name: str,
        metric: str,
        target_value: float,
        resource_label: pulumi.Input[str] | None,
        s: ScalingSettings,
        opts: pulumi.ResourceOptions,
    ) -> aws.appautoscaling.Policy:
        return aws.appautoscaling.Policy(
            name,
            policy_type="TargetTrackingScaling",
            service_namespace=self.target.service_namespace,
            scalable_dimension=self.target.scalable_dimension,
            resource_id=self.target.resource_id,
            target_tracking_scaling_policy_configuration=TargetTracking(
                target_value=target_value,
                predefined_metric_specification=PredefinedMetric(
                    predefined_metric_type=metric, resource_label=resource_label
                ),
                scale_out_cooldown=s.scale_out_cooldown_seconds,
                scale_in_cooldown=s.scale_in_cooldown_seconds,
            ),
            opts=opts,
        )
