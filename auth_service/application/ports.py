"""Ports: what the use cases need from the outside world, named after the capability."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
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
        """Store a new session together with its first refresh token (generation 0)."""

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

    async def list_active_page(
        self, user_id: UUID, now: datetime, after: SessionPosition | None, limit: int
    ) -> Sequence[Session]:
        """Up to `limit` active sessions, newest first (created_at, then id, descending), strictly after `after`
        in that order: keyset pagination, so sessions created or revoked meanwhile shift no page."""

    async def oldest_active_beyond(self, user_id: UUID, now: datetime, keep: int) -> Sequence[UUID]:
        """The user's active sessions other than the `keep` newest (by creation): the ones to evict."""

    async def rotate_refresh_token(
        self,
        session_id: UUID,
        presented_hash: bytes,
        generation: int,
        successor_hash: bytes,
        now: datetime,
        budget: RefreshBudget,
    ) -> Session | None:
        """In one atomic step, if `presented_hash` is the current refresh token of the session, the session's
        generation is `generation`, the session is active at `now` (Session.is_active) and its refresh allowance
        at `now` (RefreshBudget.allowance) is at least 1: make `successor_hash` the current token
        (generation + 1), remember `now` as the rotation time and the allowance less one, and mark the session
        used. The session as it is afterwards; None if nothing changed (then see `refresh_state`). Of
        concurrent rotations of one token exactly one changes anything."""

    async def refresh_state(self, presented_hash: bytes, session_id: UUID | None) -> RefreshState | None:
        """The refresh-token state of the session `session_id` (or, when None, of the session whose token
        once had `presented_hash`): None if there is no such session."""


@dataclass(frozen=True, slots=True)
class SessionPosition:
    """Where a page of sessions ended: the last session's created_at and id."""

    created_at: datetime
    session_id: UUID


class PresentedToken(Enum):
    """What the database knows about a presented refresh token's hash."""

    CURRENT = "current"  # the session's current refresh token
    ROTATED = "rotated"  # a token of the session that was rotated (tokens issued before generations)
    UNKNOWN = "unknown"  # no row has this hash (tokens with generations keep no row once rotated)


@dataclass(frozen=True, slots=True)
class RefreshState:
    session: Session
    generation: int  # of the current refresh token (0: the session's first)
    current_hash: bytes | None
    rotated_at: datetime | None  # when the current token replaced its predecessor (None: never rotated)
    presented: PresentedToken
    allowance: float | None  # refreshes left at `rotated_at` (None: never rotated, a full bucket)


@dataclass(frozen=True, slots=True)
class RefreshBudget:
    """Refreshes per session, a token bucket: `capacity` at most, refilled at `per_second`; a rotation takes one.
    Kept on the session row and applied by the rotation statement itself, so it costs no round trip."""

    capacity: int
    per_second: float

    def allowance(self, allowance_then: float | None, rotated_at: datetime | None, now: datetime) -> float:
        if rotated_at is None or allowance_then is None:
            return float(self.capacity)
        refilled = allowance_then + max(0.0, (now - rotated_at).total_seconds()) * self.per_second
        return min(float(self.capacity), refilled)

    def seconds_until_one(self, allowance_now: float) -> int:
        return max(1, math.ceil((1 - allowance_now) / self.per_second))


@dataclass(frozen=True, slots=True)
class RefreshTokenClaims:
    """What a refresh token in the current format says about itself, its MAC verified."""

    session_id: UUID
    generation: int


class RefreshTokenCodec(Protocol):
    """Refresh tokens: a session's first is random; each successor is derived from its predecessor with a
    server key, so retrying a rotation, or two rotations racing, yield the same token without storing it."""

    def first(self, session_id: UUID) -> str: ...

    def successor(self, token: str, session_id: UUID, generation: int) -> str:
        """The token of `generation` that rotating `token` (of the session `session_id`) issues."""

    def read(self, token: str) -> RefreshTokenClaims | None:
        """The session and generation a token names, if it is in the current format and its MAC verifies;
        None for anything else (including tokens issued before generations, found only by their hash)."""

    def access_token_id(self, refresh_token: str) -> str:
        """The `jti` of the access token handed out with `refresh_token` (the same on every retry)."""


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
    SESSION_EVICTED = "session_evicted"
    # Refusals a full throttle-audit window could not attribute (ThrottleAudit): counted, without their address.
    THROTTLED_UNATTRIBUTED = "throttled_unattributed"


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

    async def record_all(self, events: Sequence[AuditEvent]) -> None:
        """All of `events` in one statement (nothing for an empty sequence)."""


class ThrottleAudit(Protocol):
    """Where a use case reports a 429 for the audit trail. It returns at once and never fails: the trail is
    written later, off the request path, so a flood of refusals is no flood of writes (application/audit.py)."""

    def refused(self, event: AuditEvent) -> None:
        """`event.details` names the limit (`limit`) and the wait handed out (`retry_after`)."""


@dataclass(frozen=True, slots=True)
class ThrottleAuditReport:
    """One flush of the throttle audit: rows written, the refusals they count, and refusals no row could name
    because the window held its maximum of distinct keys (those are counted in a row without an address)."""

    rows: int
    refusals: int
    unattributed: int


class ThrottleAuditMetrics(Protocol):
    def flushed(self, report: ThrottleAuditReport) -> None:
        """After every flush that wrote rows."""


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
        devices and all but its `keep` most recently used ones. AccountGone if the account was deleted meanwhile."""


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
    def issue(self, user_id: UUID, session_id: UUID, now: datetime, token_id: str | None = None) -> IssuedAccessToken:
        """`token_id`: the `jti` (random when None); the same claims at the same `now` give the same token."""

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
    REFRESH_RETRY_SERVED = "RefreshRetriesServed"
    REFRESH_THROTTLED = "RefreshesThrottled"
    SESSION_EVICTED = "SessionsEvicted"


class AuthMetrics(Protocol):
    def count(self, event: AuthEvent) -> None: ...


@dataclass(frozen=True, slots=True)
class PurgeReport:
    sessions: int  # sessions deleted (their refresh tokens go with them)
    audit_events: int
    complete: bool  # False: a table still had rows to purge when the run's batch budget ran out
    devices: int = 0  # device tokens deleted past their expiry


class RetentionBatches(Protocol):
    """Bounded deletes, each one short transaction of at most `limit` rows; each returns how many it deleted."""

    async def delete_ended_sessions(self, ended_before: datetime, limit: int) -> int:
        """Sessions revoked, past their absolute lifetime or idle timeout before `ended_before`."""

    async def delete_audit_events(self, occurred_before: datetime, limit: int) -> int: ...

    async def delete_expired_devices(self, expired_before: datetime, limit: int) -> int:
        """Device tokens whose `expires_at` is not after `expired_before` (they no longer recognise anyone)."""


class RetentionStore(Protocol):
    def exclusive(self) -> AbstractAsyncContextManager[RetentionBatches | None]:
        """The purge for this database, or None while another task (or worker) is running it."""


class RetentionMetrics(Protocol):
    def purged(self, report: PurgeReport) -> None: ...
