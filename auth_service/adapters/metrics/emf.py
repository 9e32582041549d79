"""Auth metrics as CloudWatch Embedded Metric Format lines on stdout (awslogs ships them; no agent, no IAM)."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Mapping
from typing import TextIO

from auth_service.application.ports import AuthEvent, PurgeReport, ThrottleAuditReport

NAMESPACE = "AIDLC/Auth"
DIMENSION = "Service"


def emf_document(values: Mapping[str, int], service: str, timestamp_ms: int) -> str:
    """One EMF document: each named count, its dimension, and nothing about who caused it."""
    document = {
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [[DIMENSION]],
                    "Metrics": [{"Name": name, "Unit": "Count"} for name in values],
                }
            ],
        },
        DIMENSION: service,
        **values,
    }
    return json.dumps(document, separators=(",", ":"))


def emf_line(event: AuthEvent, service: str, timestamp_ms: int) -> str:
    return emf_document({event.value: 1}, service, timestamp_ms)


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


def purge_emf_line(report: PurgeReport, service: str, timestamp_ms: int) -> str | None:
    """One EMF document per purge run that did something: rows deleted per table, and PurgeBacklog 1 if the run's
    batch budget ran out with rows still to purge (a backlog that persists needs a larger budget). Counts of 0
    are left out, and a run with nothing to purge writes nothing: CloudWatch bills a custom metric for each hour
    it is published, and the purge runs every few minutes all month."""
    counts = {
        "PurgedSessions": report.sessions,
        "PurgedAuditEvents": report.audit_events,
        "PurgedDevices": report.devices,
        "PurgeBacklog": 0 if report.complete else 1,
    }
    published = {name: count for name, count in counts.items() if count}
    return emf_document(published, service, timestamp_ms) if published else None


class EmfRetentionMetrics:
    def __init__(self, service: str, stream: TextIO | None = None) -> None:
        self._service = service
        self._stream = stream

    def purged(self, report: PurgeReport) -> None:
        line = purge_emf_line(report, self._service, int(time.time() * 1000))
        if line is None:
            return
        stream = self._stream or sys.stdout
        stream.write(line + "\n")
        stream.flush()


THROTTLE_AUDIT_UNATTRIBUTED = "ThrottleAuditUnattributed"


def throttle_audit_emf_line(report: ThrottleAuditReport, service: str, timestamp_ms: int) -> str:
    """One EMF document for a throttle-audit flush that counted refusals without their address (the window held
    its maximum of keys): how many. Flushes without any emit nothing, so the metric costs nothing on a quiet day.
    A non-zero value means that many distinct clients were refused within a minute: the access log has each one."""
    return emf_document({THROTTLE_AUDIT_UNATTRIBUTED: report.unattributed}, service, timestamp_ms)


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
