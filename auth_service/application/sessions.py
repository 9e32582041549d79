"""The caller's session, and how sessions are revoked (cache tombstone first, then PostgreSQL)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from auth_service.application.ports import SessionCache, UnitOfWork


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
