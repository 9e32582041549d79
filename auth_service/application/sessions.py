"""The caller's session, and how sessions are revoked (cache tombstone first, then PostgreSQL)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from auth_service.application.audit import audit
from auth_service.application.ports import (
    AuditEventType,
    AuthEvent,
    AuthMetrics,
    RequestContext,
    SessionCache,
    UnitOfWork,
)
from auth_service.domain.model import Session


@dataclass(frozen=True, slots=True)
class SessionLimits:
    refresh_grace: timedelta  # a just-rotated refresh token presented again this soon gets the same pair
    max_sessions_per_account: int  # active sessions; a login past it evicts the oldest


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of an authenticated request."""

    user_id: UUID
    session_id: UUID


async def revoke_sessions(
    session_cache: SessionCache, uow: UnitOfWork, session_ids: Sequence[UUID], now: datetime, reason: str
) -> None:
    """Revoke in the cache first (a tombstone), then in PostgreSQL.

    The tombstone goes first so that no cached "active" state can outlive the revocation; if Redis is down
    this raises DependencyUnavailable before anything changed, and the caller may retry.
    """
    if not session_ids:
        return
    await session_cache.mark_revoked(session_ids)
    await uow.sessions.revoke(session_ids, now, reason)


class SessionCap:
    """At most `max_sessions` active sessions per account: opening one more revokes the oldest (by creation).

    Runs in the login's transaction, under the user's row lock taken by the statement that wrote the new
    session, so concurrent logins of one account take turns and each sees the others' sessions."""

    def __init__(self, *, session_cache: SessionCache, metrics: AuthMetrics, max_sessions: int) -> None:
        self._session_cache = session_cache
        self._metrics = metrics
        self._max_sessions = max_sessions

    async def make_room(self, uow: UnitOfWork, opened: Session, context: RequestContext) -> None:
        """`opened` was just written in `uow`; revoke whatever falls beyond the cap."""
        now = opened.created_at
        evicted = await uow.sessions.oldest_active_beyond(opened.user_id, now, self._max_sessions)
        evicted = [session_id for session_id in evicted if session_id != opened.id]
        if not evicted:
            return
        await revoke_sessions(self._session_cache, uow, evicted, now, "session_limit")
        for session_id in evicted:
            await audit(
                uow,
                AuditEventType.SESSION_EVICTED,
                now,
                context,
                user_id=opened.user_id,
                session_id=session_id,
                details={"reason": "session_limit", "by_session": str(opened.id)},
            )
        for _ in evicted:
            self._metrics.count(AuthEvent.SESSION_EVICTED)
