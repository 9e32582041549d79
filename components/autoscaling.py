"""Application Auto Scaling for the ECS service: a min/max task range, three target-tracking policies, and
scheduled actions that pre-scale the stack's event windows.

Target tracking on CPU, memory and ALB requests per target: whichever asks for the most tasks wins, and
scale-in happens only when all of them agree. Scale-out reacts after one minute, scale-in waits five, so a
burst at the event adds tasks quickly and a short lull does not flap them away. A keynote's storm arrives in
seconds, faster than any of that: for each event window (config `eventWindows`) a scheduled action raises the
minimum to the tasks docs/capacity.md derives for its crowd `eventLeadMinutes` before it opens, and another
lowers it when it ends (components/capacity.py: the arithmetic and the schedule). With the idle task on Fargate
Spot (config `idleOnSpot`) each window's minimum is the crowd's on-demand tasks plus that Spot task: the crowd is
carried by on-demand capacity even when Spot interrupts the task or has no capacity to place it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pulumi
import pulumi_aws as aws
from pulumi_aws.appautoscaling import (
    PolicyTargetTrackingScalingPolicyConfigurationArgs as TargetTracking,
)
from pulumi_aws.appautoscaling import (
    PolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecificationArgs as PredefinedMetric,
)

from components.capacity import Schedule, Step, Window, plan_schedule, tasks_for_attendees
from components.config import ComputeSettings, EventWindow, ScalingSettings


@dataclass(frozen=True)
class AutoScalingArgs:
    cluster_name: pulumi.Input[str]
    ecs_service_name: pulumi.Input[str]
    alb_arn_suffix: pulumi.Input[str]
    target_group_arn_suffix: pulumi.Input[str]
    settings: ScalingSettings = field(default_factory=ScalingSettings)
    task_cpu_units: int = ComputeSettings.task_cpu  # the tasks an event window needs depend on their size
    spot_tasks: int = 0  # tasks the service keeps on Fargate Spot (ComputeSettings.spot_tasks), never the crowd's
    now: datetime = field(default_factory=lambda: datetime.now(UTC))  # when this `pulumi up` runs


def sized_windows(settings: ScalingSettings, task_cpu_units: int, spot_tasks: int = 0) -> list[Window]:
    """The configured windows with their lead time and task count; refuses one the task range cannot hold.

    A window's task count is the on-demand tasks its crowd needs plus the `spot_tasks` the capacity provider
    strategy puts on Fargate Spot first: those may be interrupted or unplaceable at any time, so they never count.
    """
    return [_window(w, settings, task_cpu_units, spot_tasks) for w in settings.event_windows]


def _window(event: EventWindow, settings: ScalingSettings, task_cpu_units: int, spot_tasks: int) -> Window:
    on_demand = tasks_for_attendees(event.attendees_per_minute, task_cpu_units)
    tasks = on_demand + spot_tasks
    if tasks > settings.max_tasks:
        spot = f" + {spot_tasks} on Fargate Spot (idleOnSpot) = {tasks}" if spot_tasks else ""
        raise ValueError(
            f"eventWindows[{event.name!r}]: {event.attendees_per_minute:g} attendees a minute need {on_demand}"
            f" tasks{spot} (docs/capacity.md), above scalingMaxTasks {settings.max_tasks}; spread the arrivals"
            " (arrivalMinutes) or raise scalingMaxTasks after checking the database connections it allows"
            " (docs/operations.md, Event windows)"
        )
    lead = timedelta(minutes=settings.event_lead_minutes)
    return Window(event.name, event.start - lead, event.end, tasks)


class AutoScaling(pulumi.ComponentResource):
    """Scalable target for the service's desired count, CPU, memory and request-count policies, and one scheduled
    action per change of the minimum the event windows ask for."""

    target: aws.appautoscaling.Target
    policies: dict[str, aws.appautoscaling.Policy]
    windows: list[Window]
    schedule: Schedule
    scheduled_actions: list[aws.appautoscaling.ScheduledAction]

    def __init__(self, name: str, args: AutoScalingArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("aidlc:autoscaling:AutoScaling", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        s = args.settings
        self.windows = sized_windows(s, args.task_cpu_units, args.spot_tasks)
        self.schedule = plan_schedule(self.windows, s.min_tasks, args.now)
        self.target = aws.appautoscaling.Target(
            f"{name}-target",
            service_namespace="ecs",
            scalable_dimension="ecs:service:DesiredCount",
            resource_id=pulumi.Output.concat("service/", args.cluster_name, "/", args.ecs_service_name),
            # The scheduled actions move the minimum in AWS; this input follows the same schedule, so an `up`
            # (with or without --refresh) during a window sets the window's minimum, never the idle one.
            min_capacity=self.schedule.target_min_tasks,
            max_capacity=s.max_tasks,
            opts=child,
        )
        self.scheduled_actions = [
            self._scheduled_action(name, step, s.max_tasks, child) for step in self.schedule.steps
        ]
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
                "scheduled_minimums": {step.expression: step.min_tasks for step in self.schedule.steps},
                "policy_arns": {key: policy.arn for key, policy in self.policies.items()},
            }
        )

    def _scheduled_action(
        self, name: str, step: Step, max_tasks: int, opts: pulumi.ResourceOptions
    ) -> aws.appautoscaling.ScheduledAction:
        return aws.appautoscaling.ScheduledAction(
            f"{name}-at-{step.label}",
            name=f"{name}-min-{step.min_tasks}-at-{step.label}",
            service_namespace=self.target.service_namespace,
            scalable_dimension=self.target.scalable_dimension,
            resource_id=self.target.resource_id,
            schedule=step.expression,
            timezone="UTC",  # the at() times are UTC (the provider's default, stated)
            # The maximum too: a new minimum above a maximum set by hand would be refused.
            scalable_target_action=aws.appautoscaling.ScheduledActionScalableTargetActionArgs(
                min_capacity=step.min_tasks, max_capacity=max_tasks
            ),
            opts=opts,
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
