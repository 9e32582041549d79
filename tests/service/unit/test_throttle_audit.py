"""The throttle audit's aggregation (application/audit.py) on the fake database: every refusal is counted, one
row per key and flush, one statement per flush, a bounded number of keys, and nothing lost to a short outage."""

from __future__ import annotations

import pytest

from auth_service.application.audit import flush_on_shutdown, throttled
from auth_service.application.errors import DependencyUnavailable
from auth_service.application.ports import (
    AuditEvent,
    AuditEventType,
    RequestContext,
    RetryAfter,
    ThrottleAuditReport,
)
from tests.service.fakes import THROTTLE_AUDIT_MAX_KEYS, FakePorts

REFUSAL = RetryAfter(seconds=30, limit="address_logins")


@pytest.fixture
def p() -> FakePorts:
    return FakePorts()


def refusal(p: FakePorts, ip: str = "198.51.100.1", seconds: int = 30, user_agent: str = "curl") -> AuditEvent:
    return throttled(
        AuditEventType.LOGIN_THROTTLED,
        p.clock.now(),
        RequestContext(ip=ip, user_agent=user_agent),
        RetryAfter(seconds=seconds, limit=REFUSAL.limit),
        details={"account_key": "k1", "device": "unknown"},
    )


def statements(p: FakePorts) -> list[str]:
    seen: list[str] = []
    p.db.before_statement = seen.append
    return seen


async def test_a_burst_from_one_client_is_one_row_with_its_count_and_times(p: FakePorts) -> None:
    seen = statements(p)
    first = p.clock.now()
    for n in range(500):
        last = p.clock.now()
        p.throttle_audit.refused(refusal(p, seconds=30 + n % 7, user_agent=f"agent-{n}"))
        p.clock.advance(seconds=0.1)
    assert seen == [] and p.db.units_entered == 0  # counting is all a refusal costs

    report = await p.throttle_audit.flush()

    assert report == ThrottleAuditReport(rows=1, refusals=500, unattributed=0)
    assert seen == ["audit.record_all"]
    [row] = p.tables.audit
    assert row.type == AuditEventType.LOGIN_THROTTLED and row.context.ip == "198.51.100.1"
    assert row.context.user_agent == "agent-0" and row.occurred_at == first
    assert row.details == {
        "limit": "address_logins",
        "retry_after": "36",  # the longest wait handed out in the window
        "account_key": "k1",
        "device": "unknown",
        "count": 500,
        "first_at": first.isoformat(),
        "last_at": last.isoformat(),
    }
    assert p.throttle_audit_metrics.reports == [report]


async def test_each_client_address_and_limit_gets_a_row_of_its_own(p: FakePorts) -> None:
    p.throttle_audit.refused(refusal(p, ip="198.51.100.1"))
    p.throttle_audit.refused(refusal(p, ip="198.51.100.2"))
    p.throttle_audit.refused(refusal(p, ip="198.51.100.2"))
    other_limit = throttled(
        AuditEventType.REGISTRATION_THROTTLED, p.clock.now(), RequestContext("198.51.100.1"), REFUSAL
    )
    p.throttle_audit.refused(other_limit)
    await p.throttle_audit.flush()
    counts = {(row.type, row.context.ip): row.details["count"] for row in p.tables.audit if row.details}
    assert counts == {
        (AuditEventType.LOGIN_THROTTLED, "198.51.100.1"): 1,
        (AuditEventType.LOGIN_THROTTLED, "198.51.100.2"): 2,
        (AuditEventType.REGISTRATION_THROTTLED, "198.51.100.1"): 1,
    }


async def test_past_the_key_bound_refusals_are_counted_without_their_address(p: FakePorts) -> None:
    addresses = [f"10.0.0.{n}" for n in range(THROTTLE_AUDIT_MAX_KEYS + 3)]
    for ip in addresses:
        p.throttle_audit.refused(refusal(p, ip=ip))
    p.throttle_audit.refused(refusal(p, ip=addresses[0]))  # a key already held is still counted in its row

    report = await p.throttle_audit.flush()

    assert report == ThrottleAuditReport(rows=THROTTLE_AUDIT_MAX_KEYS + 1, refusals=len(addresses) + 1, unattributed=3)
    named = [row for row in p.tables.audit if row.type == AuditEventType.LOGIN_THROTTLED]
    [overflow] = [row for row in p.tables.audit if row.type == AuditEventType.THROTTLED_UNATTRIBUTED]
    assert {row.context.ip for row in named} == set(addresses[:THROTTLE_AUDIT_MAX_KEYS])
    assert overflow.context == RequestContext() and overflow.details is not None
    assert overflow.details["count"] == 3 and overflow.details["event_types"] == {"login_throttled": 3}
    assert sum(row.details["count"] for row in p.tables.audit if row.details) == len(addresses) + 1
    # The next window starts empty: new addresses get their rows again.
    p.throttle_audit.refused(refusal(p, ip="192.0.2.9"))
    await p.throttle_audit.flush()
    assert p.tables.audit[-1].context.ip == "192.0.2.9"


async def test_a_flush_without_postgresql_keeps_the_counts_for_the_next(p: FakePorts) -> None:
    for _ in range(3):
        p.throttle_audit.refused(refusal(p))
    p.db.unavailable = True
    with pytest.raises(DependencyUnavailable):
        await p.throttle_audit.flush()
    p.throttle_audit.refused(refusal(p))  # a refusal during the outage is still counted
    assert p.throttle_audit.pending_refusals == 4 and p.tables.audit == []

    p.db.unavailable = False
    assert await p.throttle_audit.flush() == ThrottleAuditReport(rows=1, refusals=4, unattributed=0)
    [row] = p.tables.audit
    assert row.details is not None and row.details["count"] == 4


async def test_nothing_to_write_is_no_statement_and_no_metric(p: FakePorts) -> None:
    seen = statements(p)
    assert await p.throttle_audit.flush() == ThrottleAuditReport(rows=0, refusals=0, unattributed=0)
    assert seen == [] and p.throttle_audit_metrics.reports == []


async def test_the_shutdown_flush_writes_what_is_pending_and_never_raises(p: FakePorts) -> None:
    p.throttle_audit.refused(refusal(p))
    await flush_on_shutdown(p.throttle_audit, timeout_seconds=5)
    assert len(p.tables.audit) == 1
    p.throttle_audit.refused(refusal(p))
    p.db.unavailable = True
    await flush_on_shutdown(p.throttle_audit, timeout_seconds=5)  # logged, not raised: shutdown goes on
    assert p.throttle_audit.pending_refusals == 1


async def test_a_huge_user_agent_is_kept_only_as_long_as_the_trail_stores_it(p: FakePorts) -> None:
    p.throttle_audit.refused(refusal(p, user_agent="x" * 100_000))
    await p.throttle_audit.flush()
    [row] = p.tables.audit
    assert row.context.user_agent == "x" * 512
