"""The audit trail: one event per security-relevant outcome, written in the use case's transaction; and the
throttle audit, where every 429 is counted with its client address but written as one row per key and window,
off the request path (docs/operations.md, "Throttling rules")."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from uuid import UUID

from auth_service.application.errors import DependencyUnavailable
from auth_service.application.ports import (
    AuditEvent,
    AuditEventType,
    RequestContext,
    RetryAfter,
    ThrottleAuditMetrics,
    ThrottleAuditReport,
    UnitOfWork,
    UnitOfWorkFactory,
)

log = logging.getLogger(__name__)


async def audit(
    uow: UnitOfWork,
    event_type: AuditEventType,
    now: datetime,
    context: RequestContext,
    *,
    user_id: UUID | None = None,
    session_id: UUID | None = None,
    details: dict[str, str] | None = None,
) -> None:
    await uow.audit.record(
        AuditEvent(
            type=event_type,
            occurred_at=now,
            context=context,
            user_id=user_id,
            session_id=session_id,
            details=details,
        )
    )


def throttled(
    event_type: AuditEventType,
    now: datetime,
    context: RequestContext,
    refusal: RetryAfter,
    *,
    user_id: UUID | None = None,
    details: dict[str, str] | None = None,
) -> AuditEvent:
    """A 429, with the client's address and which limit refused it (for ThrottleAudit.refused)."""
    return AuditEvent(
        type=event_type,
        occurred_at=now,
        context=context,
        user_id=user_id,
        details={"limit": refusal.limit, "retry_after": str(refusal.seconds), **(details or {})},
    )


_USER_AGENT_KEPT = 512  # what the audit trail stores of a user agent anyway

# What makes two refusals the same row: everything but the time, the wait handed out and the user agent (a
# client varying its user agent must not multiply the rows).
_Key = tuple[AuditEventType, str | None, UUID | None, UUID | None, tuple[tuple[str, str], ...]]


def _key(event: AuditEvent) -> _Key:
    details = tuple(sorted((k, str(v)) for k, v in (event.details or {}).items() if k != "retry_after"))
    return (event.type, event.context.ip, event.user_id, event.session_id, details)


@dataclass(slots=True)
class _Tally:
    first: AuditEvent  # the key's first refusal of the window: its address, account and user agent
    count: int
    last_at: datetime
    longest_wait: int

    @classmethod
    def of(cls, event: AuditEvent) -> _Tally:
        agent = event.context.user_agent
        if agent is not None and len(agent) > _USER_AGENT_KEPT:  # memory per key stays small whatever the header
            event = replace(event, context=replace(event.context, user_agent=agent[:_USER_AGENT_KEPT]))
        return cls(first=event, count=1, last_at=event.occurred_at, longest_wait=_wait(event))

    def add(self, other: _Tally) -> None:
        self.count += other.count
        if other.first.occurred_at < self.first.occurred_at:
            self.first = other.first
        self.last_at = max(self.last_at, other.last_at)
        self.longest_wait = max(self.longest_wait, other.longest_wait)

    def row(self) -> AuditEvent:
        details = dict(self.first.details or {})
        details.update(
            retry_after=str(self.longest_wait),
            count=self.count,
            first_at=self.first.occurred_at.isoformat(),
            last_at=self.last_at.isoformat(),
        )
        return AuditEvent(
            type=self.first.type,
            occurred_at=self.first.occurred_at,
            context=self.first.context,
            user_id=self.first.user_id,
            session_id=self.first.session_id,
            details=details,
        )


def _wait(event: AuditEvent) -> int:
    try:
        return int((event.details or {}).get("retry_after", 0))
    except (TypeError, ValueError):
        return 0


@dataclass(slots=True)
class _Unattributed:
    """Refusals that arrived while the window held its maximum of keys: counted per event type, no address."""

    by_type: Counter[AuditEventType] = field(default_factory=Counter)
    first_at: datetime | None = None
    last_at: datetime | None = None

    @property
    def count(self) -> int:
        return sum(self.by_type.values())

    def add(self, event_type: AuditEventType, count: int, first_at: datetime, last_at: datetime) -> None:
        self.by_type[event_type] += count
        self.first_at = first_at if self.first_at is None else min(self.first_at, first_at)
        self.last_at = last_at if self.last_at is None else max(self.last_at, last_at)

    def merge(self, other: _Unattributed) -> None:
        if other.first_at is None or other.last_at is None:
            return
        for event_type, count in other.by_type.items():
            self.add(event_type, count, other.first_at, other.last_at)

    def row(self) -> AuditEvent | None:
        if self.first_at is None or self.last_at is None:
            return None
        details: dict[str, Any] = {
            "count": self.count,
            "first_at": self.first_at.isoformat(),
            "last_at": self.last_at.isoformat(),
            "event_types": {str(t): n for t, n in sorted(self.by_type.items())},
        }
        return AuditEvent(
            type=AuditEventType.THROTTLED_UNATTRIBUTED,
            occurred_at=self.first_at,
            context=RequestContext(),
            details=details,
        )


class AggregatedThrottleAudit:
    """ThrottleAudit for one worker: `refused` only counts, in memory; `flush` writes what was counted as one
    row per key (event type, limit, client address, account or user, and the other details) with the count and
    the first and last time, all in one multi-row insert. At most `max_keys` keys are held between flushes; past
    that a refusal of a new key is counted without its address, in one `throttled_unattributed` row, and in the
    flush's metric. A flush that fails for want of PostgreSQL puts its rows back (under the same bound) for the
    next one: the requests never wait for it, and a short outage loses no count."""

    def __init__(self, *, uow: UnitOfWorkFactory, metrics: ThrottleAuditMetrics, max_keys: int) -> None:
        self._uow = uow
        self._metrics = metrics
        self._max_keys = max_keys
        self._pending: dict[_Key, _Tally] = {}
        self._unattributed = _Unattributed()

    @property
    def pending_refusals(self) -> int:
        return sum(t.count for t in self._pending.values()) + self._unattributed.count

    def refused(self, event: AuditEvent) -> None:
        self._count(_key(event), _Tally.of(event))

    def _count(self, key: _Key, tally: _Tally) -> None:
        held = self._pending.get(key)
        if held is not None:
            held.add(tally)
        elif len(self._pending) < self._max_keys:
            self._pending[key] = tally
        else:
            self._unattributed.add(tally.first.type, tally.count, tally.first.occurred_at, tally.last_at)

    async def flush(self) -> ThrottleAuditReport:
        """Write what was counted since the last flush; raises DependencyUnavailable (rows kept for the next)."""
        pending, self._pending = self._pending, {}
        unattributed, self._unattributed = self._unattributed, _Unattributed()
        rows = [tally.row() for tally in pending.values()]
        if (overflow := unattributed.row()) is not None:
            rows.append(overflow)
        report = ThrottleAuditReport(
            rows=len(rows),
            refusals=sum(t.count for t in pending.values()) + unattributed.count,
            unattributed=unattributed.count,
        )
        if not rows:
            return report
        try:
            async with self._uow(atomic=False) as uow:
                await uow.audit.record_all(rows)
        except (DependencyUnavailable, asyncio.CancelledError):
            self._put_back(pending, unattributed)
            raise
        except Exception:
            # A batch PostgreSQL refuses for its content would be refused forever: it is dropped, loudly.
            log.error("throttle audit: %d rows (%d refusals) dropped, the insert failed", report.rows, report.refusals)
            raise
        self._metrics.flushed(report)
        return report

    def _put_back(self, pending: dict[_Key, _Tally], unattributed: _Unattributed) -> None:
        for key, tally in pending.items():
            self._count(key, tally)
        self._unattributed.merge(unattributed)


async def flush_periodically(audit: AggregatedThrottleAudit, interval_seconds: float) -> None:
    """Forever: wait the interval, then flush. A failure is logged; what was kept waits for the next flush."""
    while True:
        await asyncio.sleep(interval_seconds)
        try:
            await audit.flush()
        except DependencyUnavailable:
            log.warning(
                "throttle audit not written (%d refusals kept): a dependency is unavailable", audit.pending_refusals
            )
        except Exception:
            log.exception("throttle audit flush failed")


async def flush_on_shutdown(audit: AggregatedThrottleAudit, timeout_seconds: float) -> None:
    """The last flush, bounded: shutdown never waits longer for an unreachable PostgreSQL."""
    try:
        async with asyncio.timeout(timeout_seconds):
            await audit.flush()
    except (TimeoutError, DependencyUnavailable):
        log.warning("throttle audit: %d refusals not written at shutdown", audit.pending_refusals)
    except Exception:
        log.exception("throttle audit flush failed at shutdown")
