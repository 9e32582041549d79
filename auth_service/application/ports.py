"""Ports: what the use cases need from the outside world, named after the capability."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum, StrEnum
from types import TracebackType
from typing import Any, Protocol, Self, TypeAlias
from uuid import UUID

from auth_service.domain.model import Profile, Session, User
from auth_service.domain.values import Email


class Clock(Protocol):
    def now(self) -> datetime: ...


class UserRepository(Protocol):
    async def add(self, user: User) -> None:
        """Raises EmailAlreadyRegistered when the email is taken (case-insensitively)."""

    async def get(self, user_id: UUID) -> User | None: ...

    async def get_by_email(self, email: Email) -> User | None: ...

    async def lock(self, user_id: UUID) -> User | None:
        """Re-read the user and hold a row lock until the transaction ends (serialises login, password
        change and deletion of one account)."""

    async def update(self, user: User) -> None:
        """Write every column: only under the row lock taken by `lock()` in the same transaction."""

    async def update_profile(
        self, user_id: UUID, fields: Mapping[str, str | None], updated_at: datetime
    ) -> User | None:
        """Write only these profile columns (display_name, bio, avatar_url) in one statement; the user as
        stored afterwards, or None if there is no such user."""

    async def delete(self, user_id: UUID) -> None: ...


class SessionRepository(Protocol):
    async def add(self, session: Session, refresh_token_hash: bytes) -> None:
        """Store a new session together with its first refresh token."""

    async def add_after_login(
        self, session: Session, refresh_token_hash: bytes, password_hash: str, event: AuditEvent
    ) -> bool:
        """A password login's writes as one atomic step: under the user's row lock (see UserRepository.lock),
        and only if the user still has `password_hash`, store the session, its first refresh token and `event`.

        False, writing nothing, if the account was deleted or its password changed since it was read.
        """

    async def get(self, session_id: UUID) -> Session | None: ...

    async def list_active(self, user_id: UUID, now: datetime) -> Sequence[Session]: ...

    async def revoke(self, session_ids: Sequence[UUID], now: datetime, reason: str) -> None: ...

    async def rotate_refresh_token(
        self, presented_hash: bytes, new_hash: bytes, now: datetime
    ) -> RefreshTokenRotation | None:
        """In one atomic step, if the presented token's session is active at `now` (Session.is_active) and the
        token was not rotated yet: mark it rotated, issue its successor and mark the session used.

        None for an unknown token; otherwise the session as it was before, and whether this call rotated.
        A token already rotated (possibly by a concurrent request) changes nothing.
        """


@dataclass(frozen=True, slots=True)
class RefreshTokenRotation:
    session: Session
    rotated: bool


class AuditEventType(StrEnum):
    REGISTERED = "registered"
    LOGIN_SUCCEEDED = "login_succeeded"
    LOGIN_FAILED = "login_failed"
    REFRESH_REUSE_DETECTED = "refresh_reuse_detected"
    LOGGED_OUT = "logged_out"
    LOGGED_OUT_ALL = "logged_out_all"
    SESSION_REVOKED = "session_revoked"
    PASSWORD_CHANGED = "password_changed"
    PASSWORD_CHANGE_FAILED = "password_change_failed"
    ACCOUNT_DELETED = "account_deleted"
    ACCOUNT_DELETION_FAILED = "account_deletion_failed"
    LOGIN_THROTTLED = "login_throttled"
    REAUTH_THROTTLED = "reauth_throttled"
    REGISTRATION_THROTTLED = "registration_throttled"
    THROTTLE_LIFTED = "throttle_lifted"


@dataclass(frozen=True, slots=True)
class RequestContext:
    """Who is calling, as far as the network can tell."""

    ip: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True, slots=True)
class AuditEvent:
    type: AuditEventType
    occurred_at: datetime
    context: RequestContext
    user_id: UUID | None = None
    session_id: UUID | None = None
    details: dict[str, Any] | None = None


class AuditLog(Protocol):
    async def record(self, event: AuditEvent) -> None: ...


@dataclass(frozen=True, slots=True)
class DeviceToken:
    """A browser or app that logged in to an account before (OWASP "device cookies"). Only the hash is stored;
    it grants no access, only its own budget of password guesses for its account."""

    token_hash: bytes
    user_id: UUID
    created_at: datetime
    expires_at: datetime


class DeviceRepository(Protocol):
    async def owner(self, token_hash: bytes, now: datetime) -> str | None:
        """The canonical email of the account this device token belongs to, if it has not expired at `now`."""

    async def remember(self, device: DeviceToken, now: datetime, keep: int) -> None:
        """Store the device (or extend the expiry of one already stored), then forget the account's expired
        devices and all but its `keep` most recently used ones."""


class UnitOfWork(Protocol):
    """One database transaction: commits on `commit()`, rolls back otherwise."""

    users: UserRepository
    sessions: SessionRepository
    devices: DeviceRepository
    audit: AuditLog

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    async def commit(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self, *, atomic: bool = True) -> UnitOfWork:
        """atomic=False: every statement commits on its own, for reads and single-statement writes (it saves
        the BEGIN and COMMIT round trips on the hot paths)."""


class PasswordHasher(Protocol):
    async def hash(self, password: str) -> str: ...

    async def verify(self, password: str, password_hash: str | None) -> tuple[bool, str | None]:
        """(matches, new hash if the stored one uses outdated parameters).

        With `password_hash=None` it verifies against a dummy hash, so unknown users cost the same time.
        """


class CommonPasswords(Protocol):
    def is_common(self, password: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: UUID
    session_id: UUID
    token_id: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class IssuedAccessToken:
    token: str
    expires_in: int


class TokenIssuer(Protocol):
    def issue(self, user_id: UUID, session_id: UUID, now: datetime) -> IssuedAccessToken: ...

    def verify(self, token: str) -> AccessClaims:
        """Raises InvalidToken for a bad signature, algorithm, audience, issuer, type or expiry."""

    def public_jwks(self) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class RetryAfter:
    """A limit was reached: the client may try again after this many seconds. `limit` names the limit (for the
    audit trail and the operator who lifts it)."""

    seconds: int
    limit: str = ""


@dataclass(frozen=True, slots=True)
class GuessTicket:
    """A password check reserved with the limiter and not yet settled."""

    id: str
    account_key: str
    source: str | None
    device: str | None = None


class RateLimiter(Protocol):
    """Limits password guesses, login attempts and registrations. A guess from a known device of the account
    (`device`: a valid device token's id, or the signed-in session for a re-authentication) counts only in that
    device's own budget; guesses from unknown devices share the account's budget, and also count per source
    (client address), where the limits heal within seconds. Guesses still in flight count: `reserve_guess` checks
    every limit and, if none is reached, reserves the guess in the same atomic step; the caller then settles the
    ticket exactly once."""

    async def reserve_guess(
        self, account_key: str, source: str | None, *, login: bool, device: str | None = None
    ) -> GuessTicket | RetryAfter:
        """`login=True` also counts the attempt toward the login-attempt limit (of the source, or the device)."""

    async def record_failed_guess(self, ticket: GuessTicket) -> None: ...

    async def record_correct_guess(self, ticket: GuessTicket) -> None:
        """Releases the reservation and forgets the account's failures (they were not consecutive)."""

    async def release_guess(self, ticket: GuessTicket) -> None:
        """The outcome is unknown (an error or a client that went away): the guess counts for nothing."""

    async def admit_registration(self, source: str | None) -> RetryAfter | None: ...

    async def lift(self, *, account_key: str | None = None, source: str | None = None) -> int:
        """Forget every limit's state for this account (all its devices too) or this source: the operator's
        unblock. Returns how many limiter entries were removed."""


@dataclass(frozen=True, slots=True)
class CachedSessionState:
    user_id: UUID
    active_until: datetime


class Revoked(Enum):
    """What the session cache holds for a revoked session: a tombstone (one member, compared with `is`)."""

    TOMBSTONE = "tombstone"


CachedSession: TypeAlias = CachedSessionState | Revoked | None
"""What the session cache holds for a session: its state, a revocation tombstone, or nothing (a miss)."""


class SessionCache(Protocol):
    """A read-through cache of session state. PostgreSQL stays the source of truth.

    `get` returns `Revoked.TOMBSTONE` for a revoked session, the cached state, or None on a miss.
    A stored state never overwrites a tombstone.
    """

    async def get(self, session_id: UUID) -> CachedSession: ...

    async def store(self, session_id: UUID, state: CachedSessionState) -> None: ...

    async def mark_revoked(self, session_ids: Sequence[UUID]) -> None: ...


class ProfileCache(Protocol):
    async def get(self, user_id: UUID) -> Profile | None: ...

    async def store(self, profile: Profile) -> None: ...

    async def forget(self, user_id: UUID) -> None: ...


class SessionAndProfileCache(Protocol):
    """The two caches an authenticated profile read needs, read in one round trip."""

    async def get(self, session_id: UUID, user_id: UUID) -> tuple[CachedSession, Profile | None]:
        """(what SessionCache.get returns for the session, what ProfileCache.get returns for the user)."""


class AuthEvent(StrEnum):
    REGISTRATION = "Registrations"
    LOGIN_SUCCESS = "LoginSuccesses"
    LOGIN_FAILURE = "LoginFailures"
    LOGIN_THROTTLED = "LoginsThrottled"
    REAUTH_THROTTLED = "ReauthenticationsThrottled"
    REGISTRATION_THROTTLED = "RegistrationsThrottled"
    REFRESH_REUSE = "RefreshReuseDetected"


class AuthMetrics(Protocol):
    def count(self, event: AuthEvent) -> None: ...
