"""Use cases: log in, refresh, authenticate a request, log out, publish the token-verifying keys; and the token
pair and refresh tokens that log in and refresh hand out."""

from __future__ import annotations

import hashlib
import string
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, NoReturn
from uuid import UUID, uuid4

from auth_service.application.audit import audit, throttled
from auth_service.application.devices import KnownDevices, Recognised
from auth_service.application.errors import AccountGone, DependencyUnavailable
from auth_service.application.guesses import SettledGuess, account_key
from auth_service.application.passwords import lock_and_reverify
from auth_service.application.ports import (
    AccessClaims,
    AuditEvent,
    AuditEventType,
    AuthEvent,
    AuthMetrics,
    CachedSession,
    CachedSessionState,
    Clock,
    PasswordHasher,
    PresentedToken,
    RateLimiter,
    RefreshBudget,
    RefreshState,
    RefreshTokenClaims,
    RefreshTokenCodec,
    RequestContext,
    RetryAfter,
    Revoked,
    SessionCache,
    ThrottleAudit,
    TokenIssuer,
    UnitOfWork,
    UnitOfWorkFactory,
)
from auth_service.application.sessions import Principal, SessionCap, revoke_sessions
from auth_service.domain.errors import (
    InvalidCredentials,
    InvalidEmail,
    InvalidToken,
    LoginThrottled,
    RefreshThrottled,
    RefreshTokenReused,
)
from auth_service.domain.model import Session, SessionPolicy, User
from auth_service.domain.values import Email

_EARLIER_TOKEN_LENGTH = 43  # secrets.token_urlsafe(32)
_EARLIER_TOKEN_ALPHABET = frozenset(string.ascii_letters + string.digits + "-_")
_UNPARSEABLE_EMAIL = Email("unparseable@invalid.invalid")
_Opened = tuple[User, Session, str, datetime]  # the user, the new session, its refresh token, when


@dataclass(frozen=True, slots=True)
class TokenPair:
    """What a login or a refresh hands back."""

    access_token: str
    refresh_token: str
    expires_in: int
    device_token: str | None = None  # a login's: the device the client logged in from (application/devices.py)


def is_token_from_before_generations(token: str) -> bool:
    """The earlier format: secrets.token_urlsafe(32), found only by its hash (issued until the session
    lifecycle release; sessions live at most REFRESH_TOKEN_TTL_SECONDS, so this path ends with them)."""
    return len(token) == _EARLIER_TOKEN_LENGTH and _EARLIER_TOKEN_ALPHABET.issuperset(token)


def hash_refresh_token(token: str) -> bytes:
    # The token has 256 bits of entropy, so a fast unsalted hash is enough to make the stored value useless.
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


class Login:
    """Password login. Unknown email and wrong password are indistinguishable in body, status and time."""

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        hasher: PasswordHasher,
        limiter: RateLimiter,
        tokens: TokenIssuer,
        metrics: AuthMetrics,
        clock: Clock,
        session_policy: SessionPolicy,
        devices: KnownDevices,
        refresh_tokens: RefreshTokenCodec,
        session_cap: SessionCap,
        throttle_audit: ThrottleAudit,
    ) -> None:
        self._uow = uow
        self._hasher = hasher
        self._limiter = limiter
        self._throttle_audit = throttle_audit
        self._tokens = tokens
        self._metrics = metrics
        self._clock = clock
        self._session_policy = session_policy
        self._devices = devices
        self._refresh_tokens = refresh_tokens
        self._session_cap = session_cap

    async def __call__(
        self, email: str, password: str, context: RequestContext, device_token: str | None = None
    ) -> TokenPair:
        try:
            address = Email(email)
        except InvalidEmail:
            address = _UNPARSEABLE_EMAIL  # still throttled and still pays for a hash
        known = await self._devices.recognise(device_token, address)
        key = account_key(address)
        reserved = await self._limiter.reserve_guess(key, context.ip, login=True, device=known.id if known else None)
        if isinstance(reserved, RetryAfter):
            self._metrics.count(AuthEvent.LOGIN_THROTTLED)
            details = {"account_key": key, "device": "known" if known else "unknown"}
            self._throttle_audit.refused(
                throttled(AuditEventType.LOGIN_THROTTLED, self._clock.now(), context, reserved, details=details)
            )
            raise LoginThrottled(reserved.seconds)

        async with SettledGuess(self._limiter, reserved) as guess:
            user_id, pair = await self._log_in(address, password, context, guess)
        return replace(pair, device_token=await self._remember_device(user_id, known))

    async def _remember_device(self, user_id: UUID, known: Recognised | None) -> str | None:
        """The device the client logged in from, remembered after the login (a device is a throttle key, not a
        credential: if PostgreSQL went away meanwhile, the login stands and the device stays unknown)."""
        try:
            async with self._uow(atomic=False) as uow:
                return await self._devices.remember(uow, user_id, known, self._clock.now())
        except (DependencyUnavailable, AccountGone):  # AccountGone: a deletion committed after the login did
            return None

    async def _log_in(
        self, address: Email, password: str, context: RequestContext, guess: SettledGuess
    ) -> tuple[UUID, TokenPair]:
        async with self._uow(atomic=False) as uow:
            user = await uow.users.get_by_email(address)
        # Verified outside any transaction: logins queued for the hashing pool hold no database connection.
        matches, upgraded_hash = await self._hasher.verify(password, user.password_hash if user else None)

        opened = None
        if user is not None and matches and upgraded_hash is None:
            opened = await self._open_session(user, context)
        if opened is None:  # a failure, a hash to upgrade, or the password changed while we hashed
            opened = await self._open_session_under_lock(
                address, user, matches, upgraded_hash, password, guess, context
            )
        user, session, refresh_token, now = opened

        await guess.correct()
        self._metrics.count(AuthEvent.LOGIN_SUCCESS)
        access = self._tokens.issue(user.id, session.id, now)
        return user.id, TokenPair(access.token, refresh_token, access.expires_in)

    def _start_session(self, user: User, context: RequestContext, now: datetime) -> Session:
        return Session.start(
            id=uuid4(),
            user_id=user.id,
            now=now,
            policy=self._session_policy,
            user_agent=context.user_agent,
            ip=context.ip,
        )

    async def _open_session(self, user: User, context: RequestContext) -> _Opened | None:
        """The common case in one database statement: the session, its refresh token and the audit row, written
        only if the password hash we verified is still the user's. None if it no longer is. Then the session cap."""
        now = self._clock.now()
        session = self._start_session(user, context, now)
        refresh_token = self._refresh_tokens.first(session.id)
        refresh_hash = hash_refresh_token(refresh_token)
        event = AuditEvent(
            type=AuditEventType.LOGIN_SUCCEEDED,
            occurred_at=now,
            context=context,
            user_id=user.id,
            session_id=session.id,
        )
        async with self._uow(atomic=False) as uow:
            if not await uow.sessions.add_after_login(session, refresh_hash, user.password_hash, event):
                return None
        await self._session_cap.after_login(session, context)
        return user, session, refresh_token, now

    async def _open_session_under_lock(
        self,
        address: Email,
        user: User | None,
        matches: bool,
        upgraded_hash: str | None,
        password: str,
        guess: SettledGuess,
        context: RequestContext,
    ) -> _Opened:
        async with self._uow() as uow:
            if user is not None and matches:
                # Under the row lock a password change or deletion also takes (else their "end every other
                # session" misses the session opened here).
                rechecked = await lock_and_reverify(uow, self._hasher, user, password, upgraded_hash)
                user, matches, upgraded_hash = rechecked.user, rechecked.matches, rechecked.upgraded_hash
            now = self._clock.now()
            if user is None or not matches:
                await self._record_failure(uow, guess, context, user, now, address)
                raise InvalidCredentials()
            if upgraded_hash is not None:
                await uow.users.update(replace(user, password_hash=upgraded_hash))
            session = self._start_session(user, context, now)
            refresh_token = self._refresh_tokens.first(session.id)
            await uow.sessions.add(session, hash_refresh_token(refresh_token))
            await audit(uow, AuditEventType.LOGIN_SUCCEEDED, now, context, user_id=user.id, session_id=session.id)
            await self._session_cap.within(uow, session, context)
            await uow.commit()
        return user, session, refresh_token, now

    async def _record_failure(
        self,
        uow: UnitOfWork,
        guess: SettledGuess,
        context: RequestContext,
        user: User | None,
        now: datetime,
        address: Email,
    ) -> None:
        await guess.failed()
        details = {"reason": "wrong_password"}
        if user is None:  # which address was tried (as its limiter key, to match `make unblock`; and as typed)
            details = {"reason": "unknown_email", "account_key": account_key(address)}
            if address is not _UNPARSEABLE_EMAIL:
                details["email"] = address.value
        await audit(uow, AuditEventType.LOGIN_FAILED, now, context, user_id=user.id if user else None, details=details)
        await uow.commit()
        self._metrics.count(AuthEvent.LOGIN_FAILURE)


class Refresh:
    """Rotate a refresh token.

    The token just rotated, presented again within the grace window, gets the same successor pair (a client
    that lost the response retries; two requests racing get one pair). Any other earlier token of the session
    presented again ends the whole session (RFC 9700 reuse detection)."""

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        tokens: TokenIssuer,
        refresh_tokens: RefreshTokenCodec,
        budget: RefreshBudget,
        session_cache: SessionCache,
        metrics: AuthMetrics,
        clock: Clock,
        grace: timedelta,
    ) -> None:
        self._uow = uow
        self._tokens = tokens
        self._refresh_tokens = refresh_tokens
        self._budget = budget
        self._session_cache = session_cache
        self._metrics = metrics
        self._clock = clock
        self._grace = grace

    async def __call__(self, refresh_token: str, context: RequestContext) -> TokenPair:
        now = self._clock.now()
        presented_hash = hash_refresh_token(refresh_token)
        claims = self._refresh_tokens.read(refresh_token)
        if claims is None:
            if not is_token_from_before_generations(refresh_token):
                raise InvalidToken()
            state = await self._state(presented_hash, None)
        else:
            successor = self._refresh_tokens.successor(refresh_token, claims.session_id, claims.generation + 1)
            rotated = await self._rotate(claims.session_id, presented_hash, claims.generation, successor, now)
            if rotated is not None:
                return self._pair(rotated, successor, now, now)
            state = await self._state(presented_hash, claims.session_id)

        if state is not None and state.presented is PresentedToken.CURRENT and claims is None:
            # A token from before generations, still current: its successor starts the generations.
            successor = self._refresh_tokens.successor(refresh_token, state.session.id, state.generation + 1)
            rotated = await self._rotate(state.session.id, presented_hash, state.generation, successor, now)
            if rotated is not None:
                return self._pair(rotated, successor, now, now)
            state = await self._state(presented_hash, state.session.id)
        return await self._presented_again(refresh_token, claims, state, context, now)

    async def _rotate(
        self, session_id: UUID, presented_hash: bytes, generation: int, successor: str, now: datetime
    ) -> Session | None:
        async with self._uow(atomic=False) as uow:  # one statement, atomic on its own
            return await uow.sessions.rotate_refresh_token(
                session_id, presented_hash, generation, hash_refresh_token(successor), now, self._budget
            )

    async def _state(self, presented_hash: bytes, session_id: UUID | None) -> RefreshState | None:
        async with self._uow(atomic=False) as uow:
            return await uow.sessions.refresh_state(presented_hash, session_id)

    async def _presented_again(
        self,
        refresh_token: str,
        claims: RefreshTokenClaims | None,
        state: RefreshState | None,
        context: RequestContext,
        now: datetime,
    ) -> TokenPair:
        """The presented token is not (or no longer) the session's current one."""
        if state is None or not state.session.is_active(now):
            raise InvalidToken()
        session = state.session
        if state.presented is PresentedToken.CURRENT:  # still current and active, yet not rotated: the throttle
            self._metrics.count(AuthEvent.REFRESH_THROTTLED)
            allowance = self._budget.allowance(state.allowance, state.rotated_at, now)
            raise RefreshThrottled(self._budget.seconds_until_one(allowance))
        successor = self._refresh_tokens.successor(refresh_token, session.id, state.generation)
        if state.rotated_at is not None and hash_refresh_token(successor) == state.current_hash:
            # The token just rotated: its successor is the session's current token.
            if now < state.rotated_at + self._grace:
                self._metrics.count(AuthEvent.REFRESH_RETRY_SERVED)
                return self._pair(session, successor, state.rotated_at, now)
            await self._end_reused_session(session, context, now)
        issued_here = claims is not None and claims.session_id == session.id and claims.generation < state.generation
        if issued_here or state.presented is PresentedToken.ROTATED:
            await self._end_reused_session(session, context, now)
        raise InvalidToken()

    def _pair(self, session: Session, refresh_token: str, issued_at: datetime, now: datetime) -> TokenPair:
        """The pair a rotation at `issued_at` hands out: the same claims, so the same access token, every time."""
        token_id = self._refresh_tokens.access_token_id(refresh_token)
        access = self._tokens.issue(session.user_id, session.id, issued_at, token_id=token_id)
        elapsed = int(now.timestamp()) - int(issued_at.timestamp())
        return TokenPair(access.token, refresh_token, max(1, access.expires_in - elapsed))

    async def _end_reused_session(self, session: Session, context: RequestContext, now: datetime) -> NoReturn:
        """An earlier token came back: someone holds a copy. End the session for both holders."""
        async with self._uow() as uow:
            await revoke_sessions(self._session_cache, uow, [session.id], now, "refresh_token_reused")
            await audit(
                uow, AuditEventType.REFRESH_REUSE_DETECTED, now, context, user_id=session.user_id, session_id=session.id
            )
            await uow.commit()
        self._metrics.count(AuthEvent.REFRESH_REUSE)
        raise RefreshTokenReused()


class Authenticate:
    """Turn an access token into a Principal, checking that its session is still active.

    The session state comes from the Redis cache when it can, else from PostgreSQL. A revocation
    tombstone in the cache, or a revoked row in PostgreSQL, always wins.
    """

    def __init__(
        self, *, uow: UnitOfWorkFactory, tokens: TokenIssuer, session_cache: SessionCache, clock: Clock
    ) -> None:
        self._uow = uow
        self._tokens = tokens
        self._session_cache = session_cache
        self._clock = clock

    async def __call__(self, access_token: str) -> Principal:
        claims = self._tokens.verify(access_token)
        try:
            cached = await self._session_cache.get(claims.session_id)
        except DependencyUnavailable:
            cached = None
        return await self.with_cached_state(claims, cached)

    async def with_cached_state(self, claims: AccessClaims, cached: CachedSession) -> Principal:
        """The check itself, given what the session cache held (None: a miss or Redis unavailable)."""
        now = self._clock.now()
        if cached is Revoked.TOMBSTONE:
            raise InvalidToken()
        if isinstance(cached, CachedSessionState) and cached.user_id == claims.user_id and now < cached.active_until:
            return Principal(claims.user_id, claims.session_id)

        async with self._uow(atomic=False) as uow:
            session = await uow.sessions.get(claims.session_id)
        if session is None or session.user_id != claims.user_id or not session.is_active(now):
            raise InvalidToken()
        try:
            await self._session_cache.store(session.id, CachedSessionState(session.user_id, session.idle_expires_at))
        except DependencyUnavailable:
            pass  # the cache is an optimisation; PostgreSQL answered
        return Principal(claims.user_id, claims.session_id)


class Logout:
    def __init__(self, *, uow: UnitOfWorkFactory, session_cache: SessionCache, clock: Clock) -> None:
        self._uow = uow
        self._session_cache = session_cache
        self._clock = clock

    async def __call__(self, principal: Principal, context: RequestContext) -> None:
        now = self._clock.now()
        async with self._uow() as uow:
            await revoke_sessions(self._session_cache, uow, [principal.session_id], now, "logout")
            await audit(
                uow, AuditEventType.LOGGED_OUT, now, context, user_id=principal.user_id, session_id=principal.session_id
            )
            await uow.commit()


class LogoutAll:
    def __init__(self, *, uow: UnitOfWorkFactory, session_cache: SessionCache, clock: Clock) -> None:
        self._uow = uow
        self._session_cache = session_cache
        self._clock = clock

    async def __call__(self, principal: Principal, context: RequestContext) -> None:
        now = self._clock.now()
        async with self._uow() as uow:
            sessions = await uow.sessions.list_active(principal.user_id, now)
            await revoke_sessions(self._session_cache, uow, [s.id for s in sessions], now, "logout_all")
            await audit(
                uow,
                AuditEventType.LOGGED_OUT_ALL,
                now,
                context,
                user_id=principal.user_id,
                session_id=principal.session_id,
            )
            await uow.commit()


class PublicSigningKeys:
    """The JWK set that other services verify access tokens with (GET /.well-known/jwks.json)."""

    def __init__(self, *, tokens: TokenIssuer) -> None:
        self._tokens = tokens

    def __call__(self) -> dict[str, Any]:
        return self._tokens.public_jwks()
