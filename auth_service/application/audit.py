"""The audit trail: one event per security-relevant outcome, written in the use case's transaction."""

from __future__ import annotations

import contextlib
from datetime import datetime
from uuid import UUID

from auth_service.application.errors import DependencyUnavailable
from auth_service.application.ports import (
    AuditEvent,
    AuditEventType,
    RequestContext,
    RetryAfter,
    UnitOfWork,
    UnitOfWorkFactory,
)


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


async def audit_throttled(
    uow_factory: UnitOfWorkFactory,
    event_type: AuditEventType,
    now: datetime,
    context: RequestContext,
    refusal: RetryAfter,
    *,
    user_id: UUID | None = None,
    details: dict[str, str] | None = None,
) -> None:
    """A 429, with the client's address and which limit refused it. Best effort: without PostgreSQL the request
    is still refused (the limiter said so), only the trail misses the line."""
    with contextlib.suppress(DependencyUnavailable):
        async with uow_factory(atomic=False) as uow:
            await audit(
                uow,
                event_type,
                now,
                context,
                user_id=user_id,
                details={"limit": refusal.limit, "retry_after": str(refusal.seconds), **(details or {})},
            )
