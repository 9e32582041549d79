"""Pieces shared by several use cases."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from uuid import UUID

from auth_service.application.errors import DependencyUnavailable
from auth_service.application.ports import (
    AuditEvent,
    AuditEventType,
    AuthMetrics,
    Clock,
    CommonPasswords,
    GuessTicket,
    PasswordHasher,
    ProfileCache,
    RateLimiter,
    RequestContext,
    SessionAndProfileCache,
    SessionCache,
    TokenIssuer,
    UnitOfWork,
    UnitOfWorkFactory,
)
from auth_service.domain.errors import WeakPassword
from auth_service.domain.model import SessionPolicy
from auth_service.domain.values import Email, check_password_shape, normalize_password

REFRESH_TOKEN_BYTES = 32  # 256 bits from a CSPRNG


@dataclass(frozen=True, slots=True)
class Dependencies:
    """Everything the use cases need, wired once by the composition root."""

    uow: UnitOfWorkFactory
    hasher: PasswordHasher
    tokens: TokenIssuer
    common_passwords: CommonPasswords
    limiter: RateLimiter
    session_cache: SessionCache
    profile_cache: ProfileCache
    session_and_profile_cache: SessionAndProfileCache
    metrics: AuthMetrics
    clock: Clock
    session_policy: SessionPolicy


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of an authenticated request."""

    user_id: UUID
    session_id: UUID


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int


def new_refresh_token() -> tuple[str, bytes]:
    token = secrets.token_urlsafe(REFRESH_TOKEN_BYTES)
    return token, hash_refresh_token(token)


def hash_refresh_token(token: str) -> bytes:
    # The token has 256 bits of entropy, so a fast unsalted hash is enough to make the stored value useless.
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def account_key(email: Email) -> str:
    """Rate-limit key for an account that never stores the address itself in Redis."""
    return hashlib.sha256(email.canonical.encode()).hexdigest()


class SettledGuess:
    """A reserved password guess, settled exactly once: as a failure, as correct, or (if the block ends
    without either, by an error or a cancelled request) released so that it counts for nothing."""

    def __init__(self, limiter: RateLimiter, ticket: GuessTicket) -> None:
        self._limiter = limiter
        self._ticket = ticket
        self._settled = False

    async def failed(self) -> None:
        self._settled = True
        await self._limiter.record_failed_guess(self._ticket)

    async def correct(self) -> None:
        self._settled = True
        with contextlib.suppress(DependencyUnavailable):
            # The password was right; failures not forgotten only expire later than they could.
            await self._limiter.record_correct_guess(self._ticket)

    async def __aenter__(self) -> SettledGuess:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._settled:
            return
        self._settled = True
        # Shielded: a cancelled request still releases its reservation (else it expires on its own).
        with contextlib.suppress(DependencyUnavailable, asyncio.CancelledError):
            await asyncio.shield(self._limiter.release_guess(self._ticket))


def enforce_password_policy(deps: Dependencies, password: str, email: Email) -> None:
    check_password_shape(password, email)
    if deps.common_passwords.is_common(normalize_password(password)):
        raise WeakPassword("This password is too common. Choose a less predictable one.")


async def revoke_sessions(
    deps: Dependencies, uow: UnitOfWork, session_ids: Sequence[UUID], now: datetime, reason: str
) -> None:
    """Revoke in the cache first (a tombstone), then in PostgreSQL.

    The tombstone goes first so that no cached "active" state can outlive the revocation; if Redis is down
    this raises DependencyUnavailable before anything changed, and the caller may retry.
    """
    if not session_ids:
        return
    await deps.session_cache.mark_revoked(session_ids)
    await uow.sessions.revoke(session_ids, now, reason)


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
            type=event_type, occurred_at=now, context=context,
            user_id=user_id, session_id=session_id, details=details,
        )
    )
