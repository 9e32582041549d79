"""`make alarms`: what is wrong right now, without SNS. Lists this stack's alarms in ALARM state and the recent
state changes, newest first, through the AWS CLI (no SDK to install).

    python -m scripts.alarms [--prefix auth-staging] [--hours 3] [--region us-east-1] [--dashboard-url URL]

The stack's alarms are auto-named `<namePrefix>-<key>-<suffix>` (e.g. `auth-staging-rds-connections-high-1a2b3c4`),
so the name prefix selects exactly this stack's alarms. Exit status: 0 when none is in ALARM, 2 when some are
(usable in a loop: `watch -n 60 make alarms`), 1 when the AWS CLI failed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

ALARMS_FIRING = 2


class AwsCliError(RuntimeError):
    pass


@dataclass(frozen=True)
class FiringAlarm:
    name: str
    since: str
    reason: str
    metric: str


@dataclass(frozen=True)
class StateChange:
    name: str
    at: str
    old: str
    new: str
    reason: str


def firing_alarms(describe_alarms: dict[str, Any], prefix: str) -> list[FiringAlarm]:
    """`aws cloudwatch describe-alarms --state-value ALARM` output -> this stack's firing alarms, oldest first."""
    alarms = [
        FiringAlarm(
            name=alarm["AlarmName"],
            since=str(alarm.get("StateUpdatedTimestamp", "")),
            reason=alarm.get("StateReason", ""),
            metric=f"{alarm.get('Namespace', '?')} {alarm.get('MetricName', '?')}",
        )
        for alarm in describe_alarms.get("MetricAlarms", [])
        if alarm["AlarmName"].startswith(prefix) and alarm.get("StateValue") == "ALARM"
    ]
    return sorted(alarms, key=lambda alarm: alarm.since)


def state_changes(alarm_history: dict[str, Any], prefix: str) -> list[StateChange]:
    """`aws cloudwatch describe-alarm-history --history-item-type StateUpdate` output -> changes, newest first.

    `HistoryData` is a JSON document in a string: {"oldState": {"stateValue": ...}, "newState": {...}}.
    """
    changes = []
    for item in alarm_history.get("AlarmHistoryItems", []):
        if item.get("HistoryItemType") != "StateUpdate" or not item["AlarmName"].startswith(prefix):
            continue
        data = _history_data(item.get("HistoryData", ""))
        old, new = data.get("oldState", {}), data.get("newState", {})
        changes.append(
            StateChange(
                name=item["AlarmName"],
                at=str(item.get("Timestamp", "")),
                old=old.get("stateValue", "?"),
                new=new.get("stateValue", "?"),
                reason=new.get("stateReason", item.get("HistorySummary", "")),
            )
        )
    return sorted(changes, key=lambda change: change.at, reverse=True)


def _history_data(raw: str) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def report(
    firing: Sequence[FiringAlarm], changes: Sequence[StateChange], prefix: str, hours: float, dashboard_url: str | None
) -> str:
    lines = [f"Alarms of {prefix}-* in ALARM now: {len(firing)}"]
    lines += [f"  ALARM  {a.name}  since {a.since}  [{a.metric}]\n         {_short(a.reason)}" for a in firing]
    lines.append(f"State changes in the last {hours:g} h (newest first): {len(changes)}")
    lines += [f"  {c.at}  {c.name}  {c.old} -> {c.new}  {_short(c.reason)}" for c in changes]
    if dashboard_url:
        lines.append(f"Dashboard: {dashboard_url}")
    lines.append("Runbooks: docs/operations.md#event-day-runbooks")
    return "\n".join(lines)


def _short(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def aws_json(args: Sequence[str], region: str) -> dict[str, Any]:
    """Run `aws <args> --region R --output json` and parse it; a clear error if the CLI is missing or fails."""
    aws = shutil.which("aws")
    if aws is None:
        raise AwsCliError("the AWS CLI (`aws`) is not on PATH; install it and log in (aws sts get-caller-identity)")
    result = subprocess.run(
        [aws, *args, "--region", region, "--output", "json"], capture_output=True, text=True, timeout=60
    )
    if result.returncode != 0:
        raise AwsCliError(f"aws {' '.join(args[:2])} failed: {result.stderr.strip()}")
    document: dict[str, Any] = json.loads(result.stdout or "{}")
    return document


def describe_alarms_args(prefix: str) -> list[str]:
    return ["cloudwatch", "describe-alarms", "--alarm-name-prefix", f"{prefix}-", "--state-value", "ALARM"]


def alarm_history_args(now: datetime, hours: float) -> list[str]:
    start = (now - timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return [
        "cloudwatch",
        "describe-alarm-history",
        "--history-item-type",
        "StateUpdate",
        "--start-date",
        start,
        "--scan-by",
        "TimestampDescending",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prefix", default="auth-staging", help="the stack's namePrefix (default auth-staging)")
    parser.add_argument("--hours", type=float, default=3, help="how far back to list state changes")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--dashboard-url", default=None, help="printed at the end (stack output dashboard_url)")
    args = parser.parse_args(argv)
    try:
        firing = firing_alarms(aws_json(describe_alarms_args(args.prefix), args.region), f"{args.prefix}-")
        history = aws_json(alarm_history_args(datetime.now(UTC), args.hours), args.region)
    except AwsCliError as error:
        print(f"make alarms: {error}", file=sys.stderr)
        return 1
    print(report(firing, state_changes(history, f"{args.prefix}-"), args.prefix, args.hours, args.dashboard_url))
    return ALARMS_FIRING if firing else 0


if __name__ == "__main__":
    sys.exit(main())
