"""Use cases on the signed-in user's own account: profile, password, sessions, deletion."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from uuid import UUID

from auth_service.application.audit import audit, throttled
from auth_service.application.authentication import Authenticate
from auth_service.application.devices import session_device
from auth_service.application.errors import DependencyUnavailable
from auth_service.application.guesses import SettledGuess, account_key
from auth_service.application.passwords import enforce_password_policy, lock_and_reverify
from auth_service.application.ports import (
    AuditEventType,
    AuthEvent,
    AuthMetrics,
    Clock,
    CommonPasswords,
    PasswordHasher,
    ProfileCache,
    RateLimiter,
    RequestContext,
    RetryAfter,
    SessionAndProfileCache,
    SessionCache,
    SessionPosition,
    ThrottleAudit,
    TokenIssuer,
    UnitOfWork,
    UnitOfWorkFactory,
)
from auth_service.application.sessions import Principal, revoke_sessions
from auth_service.domain.errors import InvalidToken, ReauthThrottled, SessionNotFound, WrongPassword
from auth_service.domain.model import Profile, Session, User
from auth_service.domain.values import clean_avatar_url, clean_bio, clean_display_name


async def _load_user(uow: UnitOfWork, principal: Principal) -> User:
    user = await uow.users.get(principal.user_id)
    if user is None:  # deleted concurrently: the token no longer names anyone
        raise InvalidToken()
    return user


async def _forget_cached_profile(profile_cache: ProfileCache, user_id: UUID) -> None:
    try:
        await profile_cache.forget(user_id)
    except DependencyUnavailable:
        pass  # entries expire after a short TTL; PostgreSQL already holds the change


class Reauthenticate:
    """The caller's own password, re-entered before a sensitive change: throttled and audited like a login
    guess, and verified before any database connection or row lock is taken (hashing may wait in a queue).

    The signed-in session is a known device of the account: its guesses count in its own budget, so strangers
    guessing the account's password from elsewhere never block the owner's password change or deletion."""

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        hasher: PasswordHasher,
        limiter: RateLimiter,
        metrics: AuthMetrics,
        clock: Clock,
        throttle_audit: ThrottleAudit,
    ) -> None:
        self._uow = uow
        self._hasher = hasher
        self._limiter = limiter
        self._metrics = metrics
        self._clock = clock
        self._throttle_audit = throttle_audit

    async def __call__(
        self, principal: Principal, password: str, context: RequestContext, failure: AuditEventType
    ) -> User:
        async with self._uow(atomic=False) as uow:
            user = await _load_user(uow, principal)
        device = session_device(principal.session_id)
        reserved = await self._limiter.reserve_guess(account_key(user.email), context.ip, login=False, device=device)
        if isinstance(reserved, RetryAfter):
            self._metrics.count(AuthEvent.REAUTH_THROTTLED)
            self._throttle_audit.refused(
                throttled(
                    AuditEventType.REAUTH_THROTTLED,
                    self._clock.now(),
                    context,
                    reserved,
                    user_id=user.id,
                    details={"operation": failure.value},
                )
            )
            raise ReauthThrottled(reserved.seconds)
        async with SettledGuess(self._limiter, reserved) as guess:
            matches, _ = await self._hasher.verify(password, user.password_hash)
            if matches:
                await guess.correct()
                return user
            await guess.failed()
            async with self._uow(atomic=False) as uow:
                await audit(
                    uow,
                    failure,
                    self._clock.now(),
                    context,
                    user_id=user.id,
                    session_id=principal.session_id,
                    details={"reason": "wrong_password"},
                )
        raise WrongPassword()

    async def lock_as_verified(self, uow: UnitOfWork, verified: User, password: str) -> User:
        """Hold the user's row lock to the end of the transaction (logins of this user wait, see Login). A
        password change that committed since the verification wins: the password is checked again."""
        rechecked = await lock_and_reverify(uow, self._hasher, verified, password)
        if rechecked.user is None:
            raise InvalidToken()
        if not rechecked.matches:
            raise WrongPassword()
        return rechecked.user


class GetProfile:
    def __init__(self, *, uow: UnitOfWorkFactory, profile_cache: ProfileCache) -> None:
        self._uow = uow
        self._profile_cache = profile_cache

    async def __call__(self, principal: Principal) -> Profile:
        try:
            cached = await self._profile_cache.get(principal.user_id)
        except DependencyUnavailable:
            cached = None
        return cached if cached is not None else await self.load(principal)

    async def load(self, principal: Principal) -> Profile:
        """From PostgreSQL, then into the cache."""
        async with self._uow(atomic=False) as uow:
            profile = Profile.of(await _load_user(uow, principal))
        with contextlib.suppress(DependencyUnavailable):
            await self._profile_cache.store(profile)
        return profile


class GetOwnProfile:
    """GET /users/me in one Redis round trip when both caches hold their entry: the session state and the
    profile are read together (the access token names both), then checked exactly as Authenticate does."""

    def __init__(
        self,
        *,
        tokens: TokenIssuer,
        caches: SessionAndProfileCache,
        authenticate: Authenticate,
        get_profile: GetProfile,
    ) -> None:
        self._tokens = tokens
        self._caches = caches
        self._authenticate = authenticate
        self._get_profile = get_profile

    async def __call__(self, access_token: str) -> Profile:
        claims = self._tokens.verify(access_token)
        try:
            session_state, profile = await self._caches.get(claims.session_id, claims.user_id)
        except DependencyUnavailable:
            session_state, profile = None, None
        principal = await self._authenticate.with_cached_state(claims, session_state)
        return profile if profile is not None else await self._get_profile.load(principal)


@dataclass(frozen=True, slots=True)
class ProfileChanges:
    """Fields the client sent; a field left out stays as it is, an explicit None clears bio/avatar."""

    display_name: str | None = None
    bio: str | None = None
    avatar_url: str | None = None
    fields_set: frozenset[str] = frozenset()


class UpdateProfile:
    def __init__(self, *, uow: UnitOfWorkFactory, profile_cache: ProfileCache, clock: Clock) -> None:
        self._uow = uow
        self._profile_cache = profile_cache
        self._clock = clock

    async def __call__(self, principal: Principal, changes: ProfileChanges) -> Profile:
        updates: dict[str, str | None] = {}
        if "display_name" in changes.fields_set:
            updates["display_name"] = clean_display_name(changes.display_name or "")
        if "bio" in changes.fields_set:
            updates["bio"] = clean_bio(changes.bio)
        if "avatar_url" in changes.fields_set:
            updates["avatar_url"] = clean_avatar_url(changes.avatar_url)
        async with self._uow(atomic=False) as uow:
            # One UPDATE of the sent columns only: a save racing a password change cannot write an old hash back.
            found = await (
                uow.users.update_profile(principal.user_id, updates, self._clock.now())
                if updates
                else uow.users.get(principal.user_id)
            )
        if found is None:
            raise InvalidToken()
        await _forget_cached_profile(self._profile_cache, found.id)
        return Profile.of(found)


class ChangePassword:
    """Needs the current password; ends every other session of the user."""

    def __init__(
        self,
        *,
        reauthenticate: Reauthenticate,
        uow: UnitOfWorkFactory,
        hasher: PasswordHasher,
        common_passwords: CommonPasswords,
        session_cache: SessionCache,
        profile_cache: ProfileCache,
        clock: Clock,
    ) -> None:
        self._reauthenticate = reauthenticate
        self._uow = uow
        self._hasher = hasher
        self._common_passwords = common_passwords
        self._session_cache = session_cache
        self._profile_cache = profile_cache
        self._clock = clock

    async def __call__(
        self, principal: Principal, current_password: str, new_password: str, context: RequestContext
    ) -> None:
        verified = await self._reauthenticate(
            principal, current_password, context, AuditEventType.PASSWORD_CHANGE_FAILED
        )
        enforce_password_policy(self._common_passwords, new_password, verified.email)
        new_hash = await self._hasher.hash(new_password)
        async with self._uow() as uow:
            user = await self._reauthenticate.lock_as_verified(uow, verified, current_password)
            now = self._clock.now()
            others = [s.id for s in await uow.sessions.list_active(user.id, now) if s.id != principal.session_id]
            await revoke_sessions(self._session_cache, uow, others, now, "password_changed")
            await uow.users.update(replace(user, password_hash=new_hash, updated_at=now))
            await audit(
                uow, AuditEventType.PASSWORD_CHANGED, now, context, user_id=user.id, session_id=principal.session_id
            )
            await uow.commit()
        await _forget_cached_profile(self._profile_cache, user.id)


class DeleteAccount:
    def __init__(
        self,
        *,
        reauthenticate: Reauthenticate,
        uow: UnitOfWorkFactory,
        session_cache: SessionCache,
        profile_cache: ProfileCache,
        clock: Clock,
    ) -> None:
        self._reauthenticate = reauthenticate
        self._uow = uow
        self._session_cache = session_cache
        self._profile_cache = profile_cache
        self._clock = clock

    async def __call__(self, principal: Principal, password: str, context: RequestContext) -> None:
        verified = await self._reauthenticate(principal, password, context, AuditEventType.ACCOUNT_DELETION_FAILED)
        async with self._uow() as uow:
            user = await self._reauthenticate.lock_as_verified(uow, verified, password)
            now = self._clock.now()
            sessions = await uow.sessions.list_active(user.id, now)
            await revoke_sessions(self._session_cache, uow, [s.id for s in sessions], now, "account_deleted")
            await uow.users.delete(user.id)  # sessions and refresh tokens go with it (ON DELETE CASCADE)
            await audit(
                uow, AuditEventType.ACCOUNT_DELETED, now, context, user_id=user.id, session_id=principal.session_id
            )
            await uow.commit()
        await _forget_cached_profile(self._profile_cache, user.id)


@dataclass(frozen=True, slots=True)
class SessionView:
    session: Session
    current: bool


@dataclass(frozen=True, slots=True)
class SessionPage:
    sessions: Sequence[SessionView]
    next: SessionPosition | None  # where the next page starts; None on the last page


class ListSessions:
    """The caller's active sessions, newest first, one bounded page at a time."""

    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def __call__(self, principal: Principal, after: SessionPosition | None, limit: int) -> SessionPage:
        async with self._uow(atomic=False) as uow:
            sessions = await uow.sessions.list_active_page(principal.user_id, self._clock.now(), after, limit + 1)
        page = sessions[:limit]
        more = len(sessions) > limit
        return SessionPage(
            sessions=[SessionView(s, s.id == principal.session_id) for s in page],
            next=SessionPosition(page[-1].created_at, page[-1].id) if more else None,
        )


class RevokeSession:
    """Revoke one of the caller's own sessions; anything else is indistinguishable from unknown."""

    def __init__(self, *, uow: UnitOfWorkFactory, session_cache: SessionCache, clock: Clock) -> None:
        self._uow = uow
        self._session_cache = session_cache
        self._clock = clock

    async def __call__(self, principal: Principal, session_id: UUID, context: RequestContext) -> None:
        now = self._clock.now()
        async with self._uow() as uow:
            session = await uow.sessions.get(session_id)
            if session is None or session.user_id != principal.user_id or not session.is_active(now):
                raise SessionNotFound()
            await revoke_sessions(self._session_cache, uow, [session_id], now, "revoked_by_user")
            await audit(
                uow, AuditEventType.SESSION_REVOKED, now, context, user_id=principal.user_id, session_id=session_id
            )
            await uow.commit()
