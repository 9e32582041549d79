"""Use cases: log in, refresh, authenticate a request, log out."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from uuid import uuid4

from auth_service.application.common import (
    Dependencies,
    Principal,
    SettledGuess,
    TokenPair,
    account_key,
    audit,
    hash_refresh_token,
    new_refresh_token,
    revoke_sessions,
)
from auth_service.application.errors import DependencyUnavailable
from auth_service.application.ports import (
    AccessClaims,
    AuditEvent,
    AuditEventType,
    AuthEvent,
    CachedSessionState,
    RequestContext,
    RetryAfter,
    UnitOfWork,
)
from auth_service.domain.errors import (
    InvalidCredentials,
    InvalidEmail,
    InvalidToken,
    LoginThrottled,
    RefreshTokenReused,
)
from auth_service.domain.model import Session, User
from auth_service.domain.values import Email

_UNPARSEABLE_EMAIL = Email("unparseable@invalid.invalid")
_Opened = tuple[User, Session, str, datetime]  # the user, the new session, its refresh token, when


class Login:
    """Password login. Unknown email and wrong password are indistinguishable in body, status and time."""

    def __init__(self, deps: Dependencies) -> None:
        self._deps = deps

    async def __call__(self, email: str, password: str, context: RequestContext) -> TokenPair:
        deps = self._deps
        try:
            address = Email(email)
        except InvalidEmail:
            address = _UNPARSEABLE_EMAIL  # still throttled and still pays for a hash
        reserved = await deps.limiter.reserve_guess(account_key(address), context.ip, login=True)
        if isinstance(reserved, RetryAfter):
            deps.metrics.count(AuthEvent.LOGIN_THROTTLED)
            raise LoginThrottled(reserved.seconds)

        async with SettledGuess(deps.limiter, reserved) as guess:
            return await self._log_in(address, password, context, guess)

    async def _log_in(self, address: Email, password: str, context: RequestContext, guess: SettledGuess) -> TokenPair:
        deps = self._deps
        async with deps.uow(atomic=False) as uow:
            user = await uow.users.get_by_email(address)
        # Verified outside any transaction: logins queued for the hashing pool hold no database connection.
        matches, upgraded_hash = await deps.hasher.verify(password, user.password_hash if user else None)

        opened = None
        if user is not None and matches and upgraded_hash is None:
            opened = await self._open_session(user, context)
        if opened is None:  # a failure, a hash to upgrade, or the password changed while we hashed
            opened = await self._open_session_under_lock(user, matches, upgraded_hash, password, guess, context)
        user, session, refresh_token, now = opened

        await guess.correct()
        deps.metrics.count(AuthEvent.LOGIN_SUCCESS)
        access = deps.tokens.issue(user.id, session.id, now)
        return TokenPair(access.token, refresh_token, access.expires_in)

    async def _open_session(self, user: User, context: RequestContext) -> _Opened | None:
        """The common case in one database statement: the session, its refresh token and the audit row, written
        only if the password hash we verified is still the user's. None if it no longer is."""
        deps = self._deps
        now = deps.clock.now()
        session = Session.start(id=uuid4(), user_id=user.id, now=now, policy=deps.session_policy,
                                user_agent=context.user_agent, ip=context.ip)
        refresh_token, refresh_hash = new_refresh_token()
        event = AuditEvent(type=AuditEventType.LOGIN_SUCCEEDED, occurred_at=now, context=context,
                           user_id=user.id, session_id=session.id)
        async with deps.uow(atomic=False) as uow:
            if not await uow.sessions.add_after_login(session, refresh_hash, user.password_hash, event):
                return None
        return user, session, refresh_token, now

    async def _open_session_under_lock(
        self, user: User | None, matches: bool, upgraded_hash: str | None, password: str, guess: SettledGuess,
        context: RequestContext,
    ) -> _Opened:
        deps = self._deps
        async with deps.uow() as uow:
            if user is not None and matches:
                user, matches, upgraded_hash = await self._recheck_under_lock(uow, user, password, upgraded_hash)
            now = deps.clock.now()
            if user is None or not matches:
                await self._record_failure(uow, guess, context, user, now)
                raise InvalidCredentials()
            if upgraded_hash is not None:
                await uow.users.update(replace(user, password_hash=upgraded_hash))
            session = Session.start(
                id=uuid4(), user_id=user.id, now=now, policy=deps.session_policy,
                user_agent=context.user_agent, ip=context.ip,
            )
            refresh_token, refresh_hash = new_refresh_token()
            await uow.sessions.add(session, refresh_hash)
            await audit(uow, AuditEventType.LOGIN_SUCCEEDED, now, context, user_id=user.id, session_id=session.id)
            await uow.commit()
        return user, session, refresh_token, now

    async def _recheck_under_lock(
        self, uow: UnitOfWork, user: User, password: str, upgraded_hash: str | None
    ) -> tuple[User | None, bool, str | None]:
        """A password change or deletion that committed while we hashed must win: re-read the user under the
        row lock they also take (else their "end every other session" misses the session opened here) and
        verify again if the hash changed."""
        current = await uow.users.lock(user.id)
        if current is None:
            return None, False, None
        if current.password_hash == user.password_hash:
            return current, True, upgraded_hash
        matches, upgraded_hash = await self._deps.hasher.verify(password, current.password_hash)
        return current, matches, upgraded_hash

    async def _record_failure(
        self, uow: UnitOfWork, guess: SettledGuess, context: RequestContext, user: User | None, now: datetime
    ) -> None:
        await guess.failed()
        reason = "unknown_email" if user is None else "wrong_password"
        await audit(uow, AuditEventType.LOGIN_FAILED, now, context,
                    user_id=user.id if user else None, details={"reason": reason})
        await uow.commit()
        self._deps.metrics.count(AuthEvent.LOGIN_FAILURE)


class Refresh:
    """Rotate a refresh token. Presenting an already-rotated token ends the whole session."""

    def __init__(self, deps: Dependencies) -> None:
        self._deps = deps

    async def __call__(self, refresh_token: str, context: RequestContext) -> TokenPair:
        deps = self._deps
        presented_hash = hash_refresh_token(refresh_token)
        new_token, new_hash = new_refresh_token()
        now = deps.clock.now()
        async with deps.uow(atomic=False) as uow:  # one statement, atomic on its own
            rotation = await uow.sessions.rotate_refresh_token(presented_hash, new_hash, now)
        if rotation is None or not rotation.session.is_active(now):
            raise InvalidToken()
        session = rotation.session
        if not rotation.rotated:
            await self._end_reused_session(session, context, now)
        access = deps.tokens.issue(session.user_id, session.id, now)
        return TokenPair(access.token, new_token, access.expires_in)

    async def _end_reused_session(self, session: Session, context: RequestContext, now: datetime) -> None:
        """A rotated token came back: someone holds a copy. End the session for both holders."""
        deps = self._deps
        async with deps.uow() as uow:
            await revoke_sessions(deps, uow, [session.id], now, "refresh_token_reused")
            await audit(uow, AuditEventType.REFRESH_REUSE_DETECTED, now, context,
                        user_id=session.user_id, session_id=session.id)
            await uow.commit()
        deps.metrics.count(AuthEvent.REFRESH_REUSE)
        raise RefreshTokenReused()


class Authenticate:
    """Turn an access token into a Principal, checking that its session is still active.

    The session state comes from the Redis cache when it can, else from PostgreSQL. A revocation
    tombstone in the cache, or a revoked row in PostgreSQL, always wins.
    """

    def __init__(self, deps: Dependencies) -> None:
        self._deps = deps

    async def __call__(self, access_token: str) -> Principal:
        deps = self._deps
        claims = deps.tokens.verify(access_token)
        try:
            cached = await deps.session_cache.get(claims.session_id)
        except DependencyUnavailable:
            cached = None
        return await self.with_cached_state(claims, cached)

    async def with_cached_state(self, claims: AccessClaims, cached: CachedSessionState | str | None) -> Principal:
        """The check itself, given what the session cache held (None: a miss or Redis unavailable)."""
        deps = self._deps
        now = deps.clock.now()
        if cached == "revoked":
            raise InvalidToken()
        if isinstance(cached, CachedSessionState) and cached.user_id == claims.user_id and now < cached.active_until:
            return Principal(claims.user_id, claims.session_id)

        async with deps.uow(atomic=False) as uow:
            session = await uow.sessions.get(claims.session_id)
        if session is None or session.user_id != claims.user_id or not session.is_active(now):
            raise InvalidToken()
        try:
            await deps.session_cache.store(session.id, CachedSessionState(session.user_id, session.idle_expires_at))
        except DependencyUnavailable:
            pass  # the cache is an optimisation; PostgreSQL answered
        return Principal(claims.user_id, claims.session_id)


class Logout:
    def __init__(self, deps: Dependencies) -> None:
        self._deps = deps

    async def __call__(self, principal: Principal, context: RequestContext) -> None:
        deps = self._deps
        now = deps.clock.now()
        async with deps.uow() as uow:
            await revoke_sessions(deps, uow, [principal.session_id], now, "logout")
            await audit(uow, AuditEventType.LOGGED_OUT, now, context,
                        user_id=principal.user_id, session_id=principal.session_id)
            await uow.commit()


class LogoutAll:
    def __init__(self, deps: Dependencies) -> None:
        self._deps = deps

    async def __call__(self, principal: Principal, context: RequestContext) -> None:
        deps = self._deps
        now = deps.clock.now()
        async with deps.uow() as uow:
            sessions = await uow.sessions.list_active(principal.user_id, now)
            await revoke_sessions(deps, uow, [s.id for s in sessions], now, "logout_all")
            await audit(uow, AuditEventType.LOGGED_OUT_ALL, now, context,
                        user_id=principal.user_id, session_id=principal.session_id)
            await uow.commit()
