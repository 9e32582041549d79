import io
import json

from auth_service.adapters.metrics.emf import (
    NAMESPACE,
    EmfAuthMetrics,
    EmfRetentionMetrics,
    EmfThrottleAuditMetrics,
)
from auth_service.application.ports import AuthEvent, PurgeReport, ThrottleAuditReport


def test_every_auth_event_is_a_valid_emf_document_without_personal_data() -> None:
    stream = io.StringIO()
    metrics = EmfAuthMetrics("aidlc-auth-staging", stream)
    for event in AuthEvent:
        metrics.count(event)
    lines = stream.getvalue().splitlines()
    assert len(lines) == len(AuthEvent)
    for event, line in zip(AuthEvent, lines, strict=True):
        document = json.loads(line)
        directive = document["_aws"]["CloudWatchMetrics"][0]
        assert isinstance(document["_aws"]["Timestamp"], int)
        assert directive["Namespace"] == NAMESPACE == "AIDLC/Auth"
        assert directive["Dimensions"] == [["Service"]]
        assert directive["Metrics"] == [{"Name": event.value, "Unit": "Count"}]
        # Every referenced member exists at the top level, and nothing else is there (no email, ip, user id).
        assert set(document) == {"_aws", "Service", event.value}
        assert document["Service"] == "aidlc-auth-staging" and document[event.value] == 1


def test_metric_names_match_the_container_contract() -> None:
    assert {e.value for e in AuthEvent} == {
        "Registrations",
        "LoginSuccesses",
        "LoginFailures",
        "LoginsThrottled",
        "ReauthenticationsThrottled",
        "RegistrationsThrottled",
        "RefreshReuseDetected",
        "RefreshRetriesServed",
        "RefreshesThrottled",
        "SessionsEvicted",
    }


def test_a_purge_run_is_one_emf_document_with_the_counts_it_has() -> None:
    stream = io.StringIO()
    EmfRetentionMetrics("aidlc-auth-staging", stream).purged(
        PurgeReport(sessions=7, audit_events=0, complete=False, devices=4)
    )
    (line,) = stream.getvalue().splitlines()
    document = json.loads(line)
    directive = document["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == NAMESPACE and directive["Dimensions"] == [["Service"]]
    assert [m["Name"] for m in directive["Metrics"]] == ["PurgedSessions", "PurgedDevices", "PurgeBacklog"]
    assert {k: v for k, v in document.items() if k != "_aws"} == {
        "Service": "aidlc-auth-staging",
        "PurgedSessions": 7,
        "PurgedDevices": 4,
        "PurgeBacklog": 1,
    }


def test_a_purge_run_with_nothing_to_purge_publishes_no_metric() -> None:
    stream = io.StringIO()
    EmfRetentionMetrics("aidlc-auth-staging", stream).purged(
        PurgeReport(sessions=0, audit_events=0, complete=True, devices=0)
    )
    assert stream.getvalue() == ""


def test_a_throttle_audit_flush_reports_only_refusals_it_could_not_attribute() -> None:
    stream = io.StringIO()
    metrics = EmfThrottleAuditMetrics("aidlc-auth-staging", stream)
    metrics.flushed(ThrottleAuditReport(rows=12, refusals=5000, unattributed=0))
    assert stream.getvalue() == ""  # nothing to report, no custom metric published
    metrics.flushed(ThrottleAuditReport(rows=1001, refusals=5000, unattributed=40))
    (line,) = stream.getvalue().splitlines()
    document = json.loads(line)
    directive = document["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == NAMESPACE and directive["Dimensions"] == [["Service"]]
    assert directive["Metrics"] == [{"Name": "ThrottleAuditUnattributed", "Unit": "Count"}]
    assert {k: v for k, v in document.items() if k != "_aws"} == {
        "Service": "aidlc-auth-staging",
        "ThrottleAuditUnattributed": 40,
    }
