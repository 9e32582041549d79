"""How many tasks a crowd needs, and when the scalable target's minimum changes for the stack's event windows.

Pure arithmetic, no resources: the bottom layer of `components/`. The numbers are docs/capacity.md's ("Tasks per
1,000 attendees a minute" and "Event windows"); tests/infra/test_event_windows.py keeps that document's table and
this module in agreement.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

# Service CPU one attendee costs end to end (login, profile read, refresh through the venue NAT): the event
# scenario of `make bench` on the shipped code, docs/capacity.md. Almost all of it is one argon2id verify.
CPU_MS_PER_ATTENDEE = 44.2
# Planned CPU utilisation: queueing delay grows steeply beyond it, and the CPU quota throttles per 100 ms period.
PLANNED_UTILISATION = 0.70
# During a window the service never runs on fewer tasks than this: one per AZ, so losing a task or an AZ at the
# keynote leaves half the capacity instead of none.
MIN_EVENT_TASKS = 2
CPU_UNITS_PER_VCPU = 1024

# Fargate task start (placement, image pull through the NAT, process start) plus the target group's health checks
# (2 healthy checks 15 s apart) take about 3 minutes (docs/capacity.md). The minimum is raised this long before a
# window opens: room for one failed start and its replacement, and for someone to see the tasks healthy first.
DEFAULT_LEAD_MINUTES = 15
# No scheduled action is ever created for a time closer than this: `pulumi up` creates scheduled actions after the
# service's rolling update, which can take this long, and AWS must not be handed a time already past. Changes of
# the minimum that fall inside this horizon are applied by the scalable target itself (see `plan_schedule`).
DEPLOY_HORIZON = timedelta(minutes=30)


def tasks_for_attendees(attendees_per_minute: float, task_cpu_units: int) -> int:
    """Tasks that serve this many attendees a minute at the planned utilisation; at least MIN_EVENT_TASKS.

    tasks = attendees a minute x CPU ms per attendee / (CPU ms one task supplies a minute x utilisation)
    """
    if attendees_per_minute < 0 or task_cpu_units <= 0:
        raise ValueError(f"need attendees >= 0 and task CPU > 0, got {attendees_per_minute}, {task_cpu_units}")
    cpu_ms_per_task_minute = task_cpu_units / CPU_UNITS_PER_VCPU * 60_000
    needed = attendees_per_minute * CPU_MS_PER_ATTENDEE / (cpu_ms_per_task_minute * PLANNED_UTILISATION)
    return max(MIN_EVENT_TASKS, math.ceil(round(needed, 9)))  # rounded: a crowd exactly at a boundary fits


@dataclass(frozen=True)
class Window:
    """One event window as the schedule sees it: the minimum `tasks` from `raise_at` until `end`."""

    name: str
    raise_at: datetime
    end: datetime
    tasks: int

    def covers(self, moment: datetime) -> bool:
        return self.raise_at <= moment < self.end


@dataclass(frozen=True)
class Step:
    """A scheduled action: at `at` (UTC), set the scalable target's minimum to `min_tasks`."""

    at: datetime
    min_tasks: int

    @property
    def expression(self) -> str:
        """Application Auto Scaling's one-time schedule, `at(yyyy-mm-ddThh:mm:ss)`, in UTC."""
        return f"at({self.at.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%S')})"

    @property
    def label(self) -> str:
        """Stable and allowed in a scheduled action's name (no `:`, `/` or `|`)."""
        return self.at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


@dataclass(frozen=True)
class Schedule:
    """What one `pulumi up` at `now` declares: the target's minimum now, and the changes still to come."""

    target_min_tasks: int
    steps: tuple[Step, ...]


def required_min(moment: datetime, windows: Sequence[Window], idle_min_tasks: int) -> int:
    """The minimum the service needs at `moment`: the largest open window's tasks, else the idle minimum."""
    return max([idle_min_tasks, *(w.tasks for w in windows if w.covers(moment))])


def plan_schedule(windows: Sequence[Window], idle_min_tasks: int, now: datetime) -> Schedule:
    """The scheduled actions and the target minimum for a `pulumi up` starting at `now`.

    The required minimum changes at each window's `raise_at` and `end`. A change later than `now + DEPLOY_HORIZON`
    is a scheduled action at its own time. A change sooner than that is never scheduled at its own time (by the
    time `up` creates the action, the time may have passed): the target's own minimum is the highest one required
    between now and the horizon, so a window opening soon is pre-scaled by the deploy itself and a deploy (or
    `up --refresh`) during a window keeps the window's minimum; and an action one horizon later sets whatever is
    required then, so a window closing soon is still scaled in, at most DEPLOY_HORIZON late.
    Every action sets the minimum required at its own time, so the result depends on `now` only through which
    changes are ahead and which of them are within the horizon: it differs between an `up` and a later preview only
    if a change crossed the horizon in between. Past windows produce nothing.
    """
    horizon = now + DEPLOY_HORIZON
    ahead = {t for w in windows for t in (w.raise_at, w.end) if t > now}
    soon = {t for t in ahead if t <= horizon}
    target = max(required_min(t, windows, idle_min_tasks) for t in [now, *soon])
    times = sorted({t for t in ahead if t > horizon} | {t + DEPLOY_HORIZON for t in soon})
    return Schedule(target, tuple(Step(t, required_min(t, windows, idle_min_tasks)) for t in times))
