"""Auth metrics as CloudWatch Embedded Metric Format lines on stdout (awslogs ships them; no agent, no IAM)."""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import TextIO

from auth_service.application.ports import AuthEvent, PurgeReport, ThrottleAuditReport

NAMESPACE = "AIDLC/Auth"
DIMENSION = "Service"


def emf_line(event: AuthEvent, service: str, timestamp_ms: int) -> str:
    """One EMF document: the metric value, its dimension, and nothing about who caused it."""
    document = {
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [[DIMENSION]],
                    "Metrics": [{"Name": event.value, "Unit": "Count"}],
                }
            ],
        },
        DIMENSION: service,
        event.value: 1,
    }
    return json.dumps(document, separators=(",", ":"))


class EmfAuthMetrics:
    def __init__(self, service: str, stream: TextIO | None = None) -> None:
        self._service = service
        self._stream = stream
        self._lock = threading.Lock()

    def count(self, event: AuthEvent) -> None:
        line = emf_line(event, self._service, int(time.time() * 1000))
        stream = self._stream or sys.stdout
        with self._lock:
            stream.write(line + "\n")
            stream.flush()


PURGE_METRICS = ("PurgedSessions", "PurgedAuditEvents", "PurgeBacklog", "PurgedDevices")


def purge_emf_line(report: PurgeReport, service: str, timestamp_ms: int) -> str:
    """One EMF document per purge run: rows deleted per table, and 1 in PurgeBacklog if the run's batch budget
    ran out with rows still to purge (a backlog that persists needs a larger budget or a longer run)."""
    values = (report.sessions, report.audit_events, 0 if report.complete else 1, report.devices)
    document = {
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [[DIMENSION]],
                    "Metrics": [{"Name": name, "Unit": "Count"} for name in PURGE_METRICS],
                }
            ],
        },
        DIMENSION: service,
        **dict(zip(PURGE_METRICS, values, strict=True)),
    }
    return json.dumps(document, separators=(",", ":"))


class EmfRetentionMetrics:
    def __init__(self, service: str, stream: TextIO | None = None) -> None:
        self._service = service
        self._stream = stream

    def purged(self, report: PurgeReport) -> None:
        stream = self._stream or sys.stdout
        stream.write(purge_emf_line(report, self._service, int(time.time() * 1000)) + "\n")
        stream.flush()


THROTTLE_AUDIT_UNATTRIBUTED = "ThrottleAuditUnattributed"


def throttle_audit_emf_line(report: ThrottleAuditReport, service: str, timestamp_ms: int) -> str:
    """One EMF document for a throttle-audit flush that counted refusals without their address (the window held
    its maximum of keys): how many. Flushes without any emit nothing, so the metric costs nothing on a quiet day.
    A non-zero value means that many distinct clients were refused within a minute: the access log has each one."""
    document = {
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [[DIMENSION]],
                    "Metrics": [{"Name": THROTTLE_AUDIT_UNATTRIBUTED, "Unit": "Count"}],
                }
            ],
        },
        DIMENSION: service,
        THROTTLE_AUDIT_UNATTRIBUTED: report.unattributed,
    }
    return json.dumps(document, separators=(",", ":"))


class EmfThrottleAuditMetrics:
    def __init__(self, service: str, stream: TextIO | None = None) -> None:
        self._service = service
        self._stream = stream

    def flushed(self, report: ThrottleAuditReport) -> None:
        if not report.unattributed:
            return
        stream = self._stream or sys.stdout
        stream.write(throttle_audit_emf_line(report, self._service, int(time.time() * 1000)) + "\n")
        stream.flush()
