"""The caller's session, and how sessions are revoked (cache tombstone first, then PostgreSQL)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from auth_service.application.audit import audit
from auth_service.application.errors import DependencyUnavailable
from auth_service.application.ports import (
    AuditEventType,
    AuthEvent,
    AuthMetrics,
    RefreshBudget,
    RequestContext,
    SessionCache,
    UnitOfWork,
    UnitOfWorkFactory,
)
from auth_service.domain.model import Session


@dataclass(frozen=True, slots=True)
class SessionLimits:
    refresh_grace: timedelta  # a just-rotated refresh token presented again this soon gets the same pair
    max_sessions_per_account: int  # active sessions; a login past it evicts the oldest
    refresh_budget: RefreshBudget  # refreshes per session


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

    Every login looks for sessions beyond the cap in a statement that runs after its own session was committed
    (or, in the login's transaction, under the user's row lock). The login whose look runs last therefore sees
    every session of the account, so once concurrent logins have answered, the cap holds; for the milliseconds
    between a login's insert and its look, an account may have one session more per login in flight."""

    def __init__(
        self, *, uow: UnitOfWorkFactory, session_cache: SessionCache, metrics: AuthMetrics, max_sessions: int
    ) -> None:
        self._uow = uow
        self._session_cache = session_cache
        self._metrics = metrics
        self._max_sessions = max_sessions

    async def after_login(self, opened: Session, context: RequestContext) -> None:
        """`opened` is committed: one read, and a transaction only if there is something to evict."""
        async with self._uow(atomic=False) as uow:
            evicted = await self._beyond_the_cap(uow, opened)
        if evicted:
            async with self._uow() as uow:
                if await self._evict(uow, opened, evicted, context):
                    await uow.commit()

    async def within(self, uow: UnitOfWork, opened: Session, context: RequestContext) -> None:
        """In the login's transaction, which wrote `opened` and holds the user's row lock."""
        evicted = await self._beyond_the_cap(uow, opened)
        if evicted:
            await self._evict(uow, opened, evicted, context)

    async def _beyond_the_cap(self, uow: UnitOfWork, opened: Session) -> list[UUID]:
        beyond = await uow.sessions.oldest_active_beyond(opened.user_id, opened.created_at, self._max_sessions)
        return [session_id for session_id in beyond if session_id != opened.id]

    async def _evict(self, uow: UnitOfWork, opened: Session, evicted: list[UUID], context: RequestContext) -> bool:
        now = opened.created_at
        try:
            await revoke_sessions(self._session_cache, uow, evicted, now, "session_limit")
        except DependencyUnavailable:
            return False  # no tombstone, no revocation (the rule); the account's next login evicts them
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
            self._metrics.count(AuthEvent.SESSION_EVICTED)
        return True
