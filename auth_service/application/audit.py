"""The audit trail: one event per security-relevant outcome, written in the use case's transaction."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from auth_service.application.ports import AuditEvent, AuditEventType, RequestContext, UnitOfWork


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
