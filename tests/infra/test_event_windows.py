"""Event windows: attendees -> tasks, the schedule of minimums, the scheduled actions, and deploys during a window.

The arithmetic is docs/capacity.md's; its "Event windows" table is checked against the function here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pulumi
import pytest

from components import capacity
from components.autoscaling import AutoScaling, AutoScalingArgs
from components.capacity import DEPLOY_HORIZON, Schedule, Step, Window, plan_schedule, tasks_for_attendees
from components.config import ComputeSettings, EventWindow, ScalingSettings, read_event_windows
from scripts.offline_stack import ROOT, RecordingMocks, StackGraph, build, of_type

TARGET = "aws:appautoscaling/target:Target"
ACTION = "aws:appautoscaling/scheduledAction:ScheduledAction"
KEYNOTE_START = datetime(2026, 12, 10, 9, 0, tzinfo=UTC)
KEYNOTE_END = datetime(2026, 12, 10, 11, 0, tzinfo=UTC)
KEYNOTE = Window("keynote", KEYNOTE_START - timedelta(minutes=15), KEYNOTE_END, 5)
IDLE = 1


# --- attendees -> tasks -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attendees_per_minute", "task_cpu", "tasks"),
    [
        (1_000, 512, 3),  # 1,000 x 44.2 ms / (30,000 ms x 0.7) = 2.10 -> 3
        (2_000, 512, 5),  # 4.21 -> 5: the event's ~2,000 attendees all told "log in now"
        (5_000, 512, 11),  # 10.52 -> 11
        (2_000, 1024, 3),  # a 1 vCPU task supplies twice the CPU: 2.10 -> 3
        (475, 512, 2),  # 0.9997: fits one task, but a window never runs on fewer than two
        (0, 512, 2),
    ],
)
def test_tasks_for_attendees(attendees_per_minute: float, task_cpu: int, tasks: int) -> None:
    assert tasks_for_attendees(attendees_per_minute, task_cpu) == tasks


def test_a_crowd_exactly_at_a_task_boundary_needs_no_extra_task() -> None:
    exactly_three = 3 * 30_000 * capacity.PLANNED_UTILISATION / capacity.CPU_MS_PER_ATTENDEE
    assert tasks_for_attendees(exactly_three, 512) == 3


def test_capacity_doc_table_is_what_the_stack_computes() -> None:
    text = (ROOT / "docs" / "capacity.md").read_text()
    section = text.split("## Event windows", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| ([\d,]+) \| (\d+) \|", section, flags=re.MULTILINE)
    assert len(rows) >= 4, section
    for attendees, tasks in rows:
        assert tasks_for_attendees(int(attendees.replace(",", "")), 512) == int(tasks), attendees
    assert f"{capacity.CPU_MS_PER_ATTENDEE:g} ms" in section
    assert f"{capacity.PLANNED_UTILISATION:.0%}".replace("%", " %") in section
    assert f"{capacity.DEFAULT_LEAD_MINUTES} minutes" in section


# --- the schedule -------------------------------------------------------------------------------------------


def test_a_future_window_raises_before_it_opens_and_lowers_when_it_ends() -> None:
    now = KEYNOTE.raise_at - timedelta(days=2)
    assert plan_schedule([KEYNOTE], IDLE, now) == Schedule(
        target_min_tasks=IDLE, steps=(Step(KEYNOTE.raise_at, 5), Step(KEYNOTE_END, IDLE))
    )


def test_steps_are_one_time_at_expressions_in_utc() -> None:
    local = datetime(2026, 12, 10, 17, 45, tzinfo=ZoneInfo("Asia/Seoul"))
    step = Step(local, 5)
    assert step.expression == "at(2026-12-10T08:45:00)"
    assert step.label == "20261210T084500Z"


def test_a_deploy_during_the_window_keeps_the_windows_minimum() -> None:
    for now in (KEYNOTE_START, KEYNOTE_START + timedelta(minutes=40)):
        schedule = plan_schedule([KEYNOTE], IDLE, now)
        assert schedule.target_min_tasks == 5, now
        assert schedule.steps == (Step(KEYNOTE_END, IDLE),)


def test_a_deploy_just_before_the_window_pre_scales_by_itself_and_schedules_nothing_that_soon() -> None:
    now = KEYNOTE.raise_at - timedelta(minutes=20)
    schedule = plan_schedule([KEYNOTE], IDLE, now)
    assert schedule.target_min_tasks == 5
    assert all(step.at > now + DEPLOY_HORIZON for step in schedule.steps)
    assert schedule.steps[-1] == Step(KEYNOTE_END, IDLE)


def test_a_deploy_in_the_last_minutes_of_a_window_still_scales_in_one_horizon_late() -> None:
    now = KEYNOTE_END - timedelta(minutes=10)
    schedule = plan_schedule([KEYNOTE], IDLE, now)
    assert schedule.target_min_tasks == 5
    assert schedule.steps == (Step(KEYNOTE_END + DEPLOY_HORIZON, IDLE),)


def test_past_windows_schedule_nothing() -> None:
    assert plan_schedule([KEYNOTE], IDLE, KEYNOTE_END + timedelta(seconds=1)) == Schedule(IDLE, ())


def test_overlapping_windows_need_the_larger_crowd() -> None:
    workshop = Window("workshop", KEYNOTE_START + timedelta(minutes=30), KEYNOTE_END + timedelta(hours=1), 3)
    schedule = plan_schedule([KEYNOTE, workshop], IDLE, KEYNOTE.raise_at - timedelta(days=1))
    minimums = [(step.at, step.min_tasks) for step in schedule.steps]
    assert (KEYNOTE.raise_at, 5) in minimums
    assert (KEYNOTE_END, 3) in minimums  # the keynote ends, the workshop still runs
    assert minimums[-1] == (workshop.end, IDLE)


def _in_force(schedule: Schedule, moment: datetime) -> int:
    """The minimum AWS holds at `moment` after an `up` with this schedule: the target's, then each action's."""
    passed = [step.min_tasks for step in schedule.steps if step.at <= moment]
    return passed[-1] if passed else schedule.target_min_tasks


LATE_SESSION = Window("late", KEYNOTE_END + timedelta(minutes=20), KEYNOTE_END + timedelta(hours=2), 3)


@pytest.mark.parametrize("windows", [[KEYNOTE], [KEYNOTE, LATE_SESSION]])
def test_whenever_the_deploy_runs_the_crowd_is_covered_and_nothing_is_scheduled_too_soon(
    windows: Sequence[Window],
) -> None:
    """An `up` at any minute of the day: never fewer tasks than a window needs, no action within the horizon,
    and the idle minimum back at most one horizon after the last window closes."""
    day = KEYNOTE.raise_at - timedelta(hours=3)
    for minute in range(0, 9 * 60, 5):
        now = day + timedelta(minutes=minute)
        schedule = plan_schedule(windows, IDLE, now)
        assert all(step.at > now + DEPLOY_HORIZON for step in schedule.steps), now
        for later in range(0, 6 * 60, 1):
            moment = now + timedelta(minutes=later)
            needed = capacity.required_min(moment, windows, IDLE)
            in_force = _in_force(schedule, moment)
            assert in_force >= needed, (now, moment)
            if moment >= now + 2 * DEPLOY_HORIZON:
                assert in_force == needed, (now, moment)


# --- config --------------------------------------------------------------------------------------------------


def _read(windows: object) -> tuple[EventWindow, ...]:
    pulumi.runtime.set_all_config({"aidlc-auth:eventWindows": json.dumps(windows)})
    try:
        return read_event_windows(pulumi.Config("aidlc-auth"))
    finally:
        pulumi.runtime.set_all_config({})


def test_windows_from_config_are_utc() -> None:
    (window,) = _read(
        [{"name": "keynote", "start": "2026-12-10T18:00:00+09:00", "end": "2026-12-10T11:00:00Z", "attendees": 2000}]
    )
    assert (window.start, window.end) == (KEYNOTE_START, KEYNOTE_END)
    assert window.attendees_per_minute == 2000
    (spread,) = _read(
        [
            {
                "name": "a",
                "start": "2026-12-10T09:00Z",
                "end": "2026-12-10T10:00Z",
                "attendees": 2000,
                "arrivalMinutes": 4,
            }
        ]
    )
    assert spread.attendees_per_minute == 500


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"name": "k", "start": "2026-12-10T09:00:00", "end": "2026-12-10T11:00:00Z", "attendees": 1}, "time zone"),
        ({"name": "k", "start": "2026-12-10T11:00:00Z", "end": "2026-12-10T09:00:00Z", "attendees": 1}, "not after"),
        ({"name": "k", "start": "tomorrow", "end": "2026-12-10T09:00:00Z", "attendees": 1}, "ISO 8601"),
        ({"name": "k", "start": "2026-12-10T09:00Z", "end": "2026-12-10T10:00Z", "attendee": 1}, "needs name"),
        ({"name": "k", "start": "2026-12-10T09:00Z", "end": "2026-12-10T10:00Z", "attendees": 1, "x": 1}, "unknown"),
        ({"name": "Key Note", "start": "2026-12-10T09:00Z", "end": "2026-12-10T10:00Z", "attendees": 1}, "name"),
    ],
)
def test_a_malformed_window_is_refused(entry: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _read([entry])


def test_window_names_are_unique() -> None:
    window = EventWindow("keynote", KEYNOTE_START, KEYNOTE_END, 10)
    with pytest.raises(ValueError, match="unique"):
        ScalingSettings(event_windows=(window, window))


# --- the component -------------------------------------------------------------------------------------------


def _component(settings: ScalingSettings, now: datetime, task_cpu: int = 512) -> list[Any]:
    args = AutoScalingArgs(
        cluster_name=pulumi.Output.from_input("cluster"),
        ecs_service_name=pulumi.Output.from_input("service"),
        alb_arn_suffix=pulumi.Output.from_input("app/alb/1"),
        target_group_arn_suffix=pulumi.Output.from_input("targetgroup/tg/2"),
        settings=settings,
        task_cpu_units=task_cpu,
        now=now,
    )
    return build(lambda: AutoScaling("scale", args))


KEYNOTE_SETTINGS = ScalingSettings(event_windows=(EventWindow("keynote", KEYNOTE_START, KEYNOTE_END, 2000),))


def test_scheduled_actions_raise_the_minimum_fifteen_minutes_ahead_and_lower_it_at_the_end() -> None:
    resources = _component(KEYNOTE_SETTINGS, now=KEYNOTE_START - timedelta(days=1))
    (target,) = of_type(resources, TARGET)
    assert (target.inputs["minCapacity"], target.inputs["maxCapacity"]) == (1, 6)
    actions = sorted((a.inputs for a in of_type(resources, ACTION)), key=lambda a: a["schedule"])
    assert [(a["schedule"], a["scalableTargetAction"]) for a in actions] == [
        ("at(2026-12-10T08:45:00)", {"minCapacity": 5, "maxCapacity": 6}),
        ("at(2026-12-10T11:00:00)", {"minCapacity": 1, "maxCapacity": 6}),
    ]
    for action in actions:
        assert action["resourceId"] == "service/cluster/service"
        assert (action["serviceNamespace"], action["scalableDimension"]) == ("ecs", "ecs:service:DesiredCount")
        assert action["timezone"] == "UTC"  # the at() times are UTC
        assert not set(action["name"]) & set(":/|")  # characters a scheduled action's name may not have


def test_a_deploy_during_the_window_registers_the_windows_minimum() -> None:
    resources = _component(KEYNOTE_SETTINGS, now=KEYNOTE_START + timedelta(minutes=5))
    (target,) = of_type(resources, TARGET)
    assert target.inputs["minCapacity"] == 5
    (action,) = [a.inputs for a in of_type(resources, ACTION)]
    assert (action["schedule"], action["scalableTargetAction"]["minCapacity"]) == ("at(2026-12-10T11:00:00)", 1)


def test_a_crowd_above_the_task_ceiling_is_refused_before_anything_is_created() -> None:
    big = ScalingSettings(event_windows=(EventWindow("expo", KEYNOTE_START, KEYNOTE_END, 3000),))
    with pytest.raises(ValueError, match=r"need 7 tasks .* scalingMaxTasks 6"):
        _component(big, now=KEYNOTE_START - timedelta(days=1))


# --- the whole stack -----------------------------------------------------------------------------------------


def _windows_config(start: datetime, end: datetime) -> dict[str, str]:
    window = {"name": "keynote", "start": start.isoformat(), "end": end.isoformat(), "attendees": 2000}
    return {"aidlc-auth:eventWindows": json.dumps([window])}


def test_the_stack_schedules_its_configured_windows(run_stack: Callable[..., StackGraph]) -> None:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    graph = run_stack(config_overrides=_windows_config(start, start + timedelta(hours=2)))
    assert graph.one(TARGET).plain["minCapacity"] == 1
    minimums = sorted(
        (a.plain["schedule"], a.plain["scalableTargetAction"]["minCapacity"]) for a in graph.of_type(ACTION)
    )
    assert [m for _, m in minimums] == [5 + 1, 1]  # the crowd's on-demand tasks + the Spot task (idleOnSpot)
    target_id = graph.one(TARGET).plain["resourceId"]
    assert {a.plain["resourceId"] for a in graph.of_type(ACTION)} == {target_id}


def test_an_up_during_the_window_neither_resets_the_minimum_nor_the_desired_count(
    run_stack: Callable[..., StackGraph], monkeypatch: pytest.MonkeyPatch
) -> None:
    ignored: dict[tuple[str, str], list[str]] = {}
    record = RecordingMocks.record_options

    def record_ignore_changes(self: RecordingMocks, args: pulumi.ResourceTransformationArgs) -> None:
        ignored[(args.type_, args.name)] = list(args.opts.ignore_changes or [])
        record(self, args)

    monkeypatch.setattr(RecordingMocks, "record_options", record_ignore_changes)
    now = datetime.now(UTC).replace(microsecond=0)
    graph = run_stack(config_overrides=_windows_config(now - timedelta(minutes=30), now + timedelta(hours=2)))
    assert graph.one(TARGET).plain["minCapacity"] == 5 + 1  # what the raise action set: `up --refresh` keeps it
    service = graph.one("aws:ecs/service:Service")
    assert "desiredCount" in ignored[service.key]  # the count auto scaling set is never reset by a deploy
    (action,) = graph.of_type(ACTION)
    assert action.plain["scalableTargetAction"]["minCapacity"] == 1


def test_the_stack_file_names_every_event_setting() -> None:
    text = (ROOT / "Pulumi.staging.yaml").read_text()
    for key in ("eventWindows", "eventLeadMinutes", "scalingMinTasks", "containerInsights", "cpuArchitecture"):
        assert f"aidlc-auth:{key}:" in text, key
    assert Path(ROOT / "docs" / "operations.md").read_text().count("eventWindows") >= 2


# --- the task architecture -----------------------------------------------------------------------------------

TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"
IMAGE = "docker:index/image:Image"


@pytest.mark.parametrize(("architecture", "platform"), [("X86_64", "linux/amd64"), ("ARM64", "linux/arm64")])
def test_the_image_is_built_for_the_architecture_the_task_definition_names(
    run_stack: Callable[..., StackGraph], architecture: str, platform: str
) -> None:
    graph = run_stack(config_overrides={"aidlc-auth:cpuArchitecture": architecture})
    runtime = graph.one(TASK_DEFINITION).plain["runtimePlatform"]
    assert runtime == {"operatingSystemFamily": "LINUX", "cpuArchitecture": architecture}
    assert graph.one(IMAGE).plain["build"]["platform"] == platform


def test_an_unknown_architecture_is_refused() -> None:
    with pytest.raises(ValueError, match="cpuArchitecture"):
        ComputeSettings(cpu_architecture="arm64")


def test_the_ci_image_job_builds_for_the_staging_task_definition(staging: StackGraph) -> None:
    checks = (ROOT / ".github" / "workflows" / "checks.yml").read_text()
    platforms = set(re.findall(r"docker build --platform (\S+)", checks))
    assert platforms == {staging.one(IMAGE).plain["build"]["platform"]}


# --- make prescale: the surprise crowd -----------------------------------------------------------------------


def _make(*args: str) -> subprocess.CompletedProcess[str]:
    make_binary = shutil.which("make")
    assert make_binary is not None
    return subprocess.run(
        [make_binary, "--no-print-directory", "-C", str(ROOT), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "MAKEFLAGS": ""},
        timeout=60,
    )


def test_prescale_raises_the_minimum_of_this_stacks_service() -> None:
    result = _make("-n", "prescale", "TASKS=6")
    assert result.returncode == 0, result.stderr
    assert (
        "application-autoscaling register-scalable-target --region us-east-1 --service-namespace ecs" in result.stdout
    )
    assert '--resource-id "service/$cluster/$service" --min-capacity 6' in result.stdout
    assert "pulumi stack output service_name --stack staging" in result.stdout


@pytest.mark.parametrize("tasks", ["", "six", "0"])
def test_prescale_without_a_task_count_stops_before_touching_anything(tasks: str) -> None:
    result = _make("prescale", f"TASKS={tasks}", "PULUMI=/nonexistent/pulumi", "AWS=/nonexistent/aws")
    assert result.returncode != 0
    assert "make prescale: say how many tasks, e.g. make prescale TASKS=6" in result.stderr
