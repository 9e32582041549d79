"""scripts/alarms.py (`make alarms`): parses the AWS CLI's JSON as documented and says what is firing.

The documents below have the shapes of the AWS CLI reference examples for `describe-alarms` and
`describe-alarm-history` (HistoryData is a JSON document inside a string).
"""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from scripts import alarms

PREFIX = "auth-staging-"

DESCRIBE_ALARMS = {
    "MetricAlarms": [
        {
            "AlarmName": "auth-staging-rds-connections-high-1a2b3c4",
            "AlarmArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:auth-staging-rds-connections-high-1a2b3c4",
            "StateValue": "ALARM",
            "StateReason": "Threshold Crossed: 2 datapoints [97.0, 101.0] were greater than the threshold (80.0).",
            "StateUpdatedTimestamp": "2026-11-25T10:05:00.000Z",
            "MetricName": "DatabaseConnections",
            "Namespace": "AWS/RDS",
            "ActionsEnabled": False,
        },
        {
            "AlarmName": "auth-staging-healthy-hosts-none-9z8y7x6",
            "StateValue": "ALARM",
            "StateReason": "Threshold Crossed: no datapoints were received for 2 periods",
            "StateUpdatedTimestamp": "2026-11-25T10:01:00.000Z",
            "MetricName": "HealthyHostCount",
            "Namespace": "AWS/ApplicationELB",
        },
        {  # another stack's alarm in the same account: not ours
            "AlarmName": "auth-production-ecs-cpu-high-0000000",
            "StateValue": "ALARM",
            "StateReason": "Threshold Crossed",
            "StateUpdatedTimestamp": "2026-11-25T09:00:00.000Z",
            "MetricName": "CPUUtilization",
            "Namespace": "AWS/ECS",
        },
    ]
}


def _history_item(name: str, at: str, old: str, new: str, reason: str) -> dict[str, str]:
    data = {
        "version": "1.0",
        "oldState": {"stateValue": old, "stateReason": "earlier"},
        "newState": {"stateValue": new, "stateReason": reason},
    }
    return {
        "Timestamp": at,
        "HistoryItemType": "StateUpdate",
        "AlarmName": name,
        "HistoryData": json.dumps(data),
        "HistorySummary": f"Alarm updated from {old} to {new}",
    }


ALARM_HISTORY = {
    "AlarmHistoryItems": [
        _history_item(
            "auth-staging-ecs-cpu-high-5d6e7f8",
            "2026-11-25T09:40:00.000Z",
            "ALARM",
            "OK",
            "Threshold Crossed: 5 datapoints were not greater than the threshold (80.0).",
        ),
        _history_item(
            "auth-staging-rds-connections-high-1a2b3c4",
            "2026-11-25T10:05:00.000Z",
            "OK",
            "ALARM",
            "Threshold Crossed: 2 datapoints [97.0, 101.0] were greater than the threshold (80.0).",
        ),
        {
            "Timestamp": "2026-11-25T10:06:00.000Z",
            "HistoryItemType": "ConfigurationUpdate",
            "AlarmName": "auth-staging-ecs-cpu-high-5d6e7f8",
            "HistoryData": "{}",
            "HistorySummary": 'Alarm "auth-staging-ecs-cpu-high-5d6e7f8" updated',
        },
        _history_item("other-app-alarm", "2026-11-25T10:07:00.000Z", "OK", "ALARM", "not ours"),
        {
            "Timestamp": "2026-11-25T08:00:00.000Z",
            "HistoryItemType": "StateUpdate",
            "AlarmName": "auth-staging-unhealthy-hosts-1111111",
            "HistoryData": "not json",
            "HistorySummary": "Alarm updated from INSUFFICIENT_DATA to OK",
        },
    ]
}


def test_firing_alarms_are_this_stacks_alarms_in_alarm_oldest_first() -> None:
    firing = alarms.firing_alarms(DESCRIBE_ALARMS, PREFIX)
    assert [a.name for a in firing] == [
        "auth-staging-healthy-hosts-none-9z8y7x6",
        "auth-staging-rds-connections-high-1a2b3c4",
    ]
    assert firing[1].metric == "AWS/RDS DatabaseConnections"
    assert "greater than the threshold (80.0)" in firing[1].reason


def test_state_changes_are_state_updates_of_this_stack_newest_first() -> None:
    changes = alarms.state_changes(ALARM_HISTORY, PREFIX)
    assert [(c.name.rsplit("-", 1)[0], c.old, c.new) for c in changes] == [
        ("auth-staging-rds-connections-high", "OK", "ALARM"),
        ("auth-staging-ecs-cpu-high", "ALARM", "OK"),
        ("auth-staging-unhealthy-hosts", "?", "?"),  # unreadable HistoryData: still listed, with its summary
    ]
    assert changes[2].reason == "Alarm updated from INSUFFICIENT_DATA to OK"


def test_report_names_what_fires_and_where_to_look() -> None:
    text = alarms.report(
        alarms.firing_alarms(DESCRIBE_ALARMS, PREFIX),
        alarms.state_changes(ALARM_HISTORY, PREFIX),
        "auth-staging",
        3,
        "https://console.example/dash",
    )
    assert "in ALARM now: 2" in text
    assert "ALARM  auth-staging-rds-connections-high-1a2b3c4  since 2026-11-25T10:05:00.000Z" in text
    assert "OK -> ALARM" in text and "ALARM -> OK" in text
    assert "auth-production" not in text and "other-app" not in text
    assert text.endswith("Dashboard: https://console.example/dash\nRunbooks: docs/operations.md#event-day-runbooks")


def test_cli_arguments_select_this_stack_and_the_time_window() -> None:
    assert alarms.describe_alarms_args("auth-staging") == [
        "cloudwatch",
        "describe-alarms",
        "--alarm-name-prefix",
        "auth-staging-",
        "--state-value",
        "ALARM",
    ]
    history = alarms.alarm_history_args(datetime(2026, 11, 25, 12, 0, tzinfo=UTC), 3)
    assert history[history.index("--start-date") + 1] == "2026-11-25T09:00:00Z"
    assert history[history.index("--history-item-type") + 1] == "StateUpdate"


def _fake_aws(tmp_path: Path, script: str) -> str:
    aws = tmp_path / "aws"
    aws.write_text("#!/bin/sh\n" + script)
    aws.chmod(aws.stat().st_mode | stat.S_IEXEC)
    return f"{tmp_path}{os.pathsep}{os.environ['PATH']}"


def test_exit_status_says_whether_something_fires(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "alarms.json").write_text(json.dumps(DESCRIBE_ALARMS))
    (tmp_path / "history.json").write_text(json.dumps(ALARM_HISTORY))
    monkeypatch.setenv(
        "PATH",
        _fake_aws(
            tmp_path,
            f"""
case "$2" in
  describe-alarms) cat {tmp_path}/alarms.json ;;
  describe-alarm-history) cat {tmp_path}/history.json ;;
esac
""",
        ),
    )
    assert alarms.main(["--prefix", "auth-staging"]) == alarms.ALARMS_FIRING
    assert "in ALARM now: 2" in capsys.readouterr().out


def test_a_failing_cli_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", _fake_aws(tmp_path, "echo 'Unable to locate credentials' >&2; exit 255\n"))
    assert alarms.main([]) == 1
    assert "aws cloudwatch describe-alarms failed: Unable to locate credentials" in capsys.readouterr().err


def test_a_missing_cli_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert alarms.main([]) == 1
    assert "the AWS CLI (`aws`) is not on PATH" in capsys.readouterr().err
