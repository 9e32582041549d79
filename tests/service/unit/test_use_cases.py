"""The use cases' rules against in-memory fakes of their ports: no PostgreSQL, no Redis, milliseconds each.

What needs a real database or Redis (SQL, row locks, Lua scripts, TTLs) stays in tests/service/integration.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import replace
from uuid import uuid4

import pytest

from auth_service.application.account import (
    ProfileChanges,
    Reauthenticate,
)
from auth_service.application.authentication import (
    TokenPair,
    hash_refresh_token,
)
from auth_service.application.devices import hash_device_token
from auth_service.application.errors import DependencyUnavailable
from auth_service.application.guesses import SettledGuess, account_key
from auth_service.application.passwords import NormalizedPasswords, lock_and_reverify
from auth_service.application.ports import (
    AuditEventType,
    AuthEvent,
    CachedSessionState,
    GuessTicket,
    RequestContext,
    RetryAfter,
    Revoked,
)
from auth_service.application.service import AuthService
from auth_service.application.sessions import Principal
from auth_service.bootstrap import wire_use_cases
from auth_service.domain.errors import (
    EmailAlreadyRegistered,
    InvalidCredentials,
    InvalidToken,
    LoginThrottled,
    ReauthThrottled,
    RefreshThrottled,
    RefreshTokenReused,
    RegistrationThrottled,
    SessionNotFound,
    WeakPassword,
    WrongPassword,
)
from auth_service.domain.model import Session, User
from auth_service.domain.values import Email
from tests.service.fakes import (
    ACCESS_TOKEN_TTL,
    DEVICE_POLICY,
    SESSION_LIMITS,
    SESSION_POLICY,
    FakePorts,
    RefreshTokenRow,
)

PASSWORD = "Gorilla-Marmalade-Tundra-42"
NEW_PASSWORD = "Velvet-Quarry-Lantern-77"
CONTEXT = RequestContext(ip="203.0.113.7", user_agent="pytest")


@pytest.fixture
def p() -> FakePorts:
    return FakePorts()


def a_user(p: FakePorts, email: str = "ada@example.com", password: str = PASSWORD, scheme: str = "current") -> User:
    now = p.clock.now()
    user = User(
        id=uuid4(),
        email=Email(email),
        display_name="Ada",
        password_hash=p.hasher.make(password, scheme),
        created_at=now,
        updated_at=now,
    )
    p.tables.users[user.id] = user
    return user


def use_cases(p: FakePorts) -> AuthService:
    """The use cases wired by the composition root's own function, on the fakes."""
    return wire_use_cases(
        uow=p.uow,
        throttle_audit=p.throttle_audit,
        hasher=p.hasher,
        tokens=p.tokens,
        common_passwords=p.common_passwords,
        limiter=p.limiter,
        session_cache=p.session_cache,
        profile_cache=p.profile_cache,
        session_and_profile_cache=p.session_and_profile_cache,
        metrics=p.metrics,
        clock=p.clock,
        session_policy=SESSION_POLICY,
        devices=DEVICE_POLICY,
        refresh_tokens=p.refresh_tokens,
        session_limits=SESSION_LIMITS,
    )


def reauthenticate(p: FakePorts) -> Reauthenticate:
    """The step password change and deletion share (not a use case of its own, so not on AuthService)."""
    return Reauthenticate(
        uow=p.uow,
        hasher=p.hasher,
        limiter=p.limiter,
        metrics=p.metrics,
        clock=p.clock,
        throttle_audit=p.throttle_audit,
    )


async def signed_in(p: FakePorts, user: User) -> tuple[TokenPair, Principal]:
    pair = await use_cases(p).login(user.email.value, PASSWORD, CONTEXT)
    claims = p.tokens.verify(pair.access_token)
    return pair, Principal(claims.user_id, claims.session_id)


def audit_types(p: FakePorts) -> list[AuditEventType]:
    return [event.type for event in p.tables.audit]


def index_of(journal: list[str], prefix: str) -> int:
    return next(i for i, line in enumerate(journal) if line.startswith(prefix))


# --- Login ---------------------------------------------------------------------------------------------------------


async def test_login_opens_a_session_and_settles_the_guess_as_correct(p: FakePorts) -> None:
    user = a_user(p)
    pair = await use_cases(p).login(user.email.value, PASSWORD, CONTEXT)
    [session] = p.tables.sessions.values()
    assert session.user_id == user.id and session.ip == CONTEXT.ip and session.user_agent == CONTEXT.user_agent
    assert p.tables.refresh_tokens[hash_refresh_token(pair.refresh_token)].session_id == session.id
    assert p.tokens.verify(pair.access_token).session_id == session.id
    assert audit_types(p) == [AuditEventType.LOGIN_SUCCEEDED]
    assert p.metrics.events == [AuthEvent.LOGIN_SUCCESS]
    assert list(p.limiter.settled.values()) == ["correct"] and p.limiter.logins_counted == 1


async def test_a_throttled_login_computes_no_hash_touches_no_database_and_is_audited(p: FakePorts) -> None:
    user = a_user(p)
    p.limiter.refuse_guesses = RetryAfter(seconds=42, limit="unknown_devices")
    with pytest.raises(LoginThrottled) as refused:
        await use_cases(p).login(user.email.value, PASSWORD, CONTEXT)
    assert refused.value.retry_after_seconds == 42
    assert p.hasher.verified == [] and p.db.units_entered == 0  # the refusal is only counted, in memory
    assert p.metrics.events == [AuthEvent.LOGIN_THROTTLED]
    await p.throttle_audit.flush()
    [event] = p.tables.audit
    assert event.type == AuditEventType.LOGIN_THROTTLED and event.context.ip == CONTEXT.ip
    assert event.details == {
        "limit": "unknown_devices",
        "retry_after": "42",
        "account_key": account_key(user.email),
        "device": "unknown",
        "count": 1,
        "first_at": p.clock.now().isoformat(),
        "last_at": p.clock.now().isoformat(),
    }


async def test_a_throttled_login_is_refused_even_when_the_audit_cannot_be_written(p: FakePorts) -> None:
    user = a_user(p)
    p.limiter.refuse_guesses = RetryAfter(seconds=42)
    p.db.unavailable = True
    with pytest.raises(LoginThrottled):
        await use_cases(p).login(user.email.value, PASSWORD, CONTEXT)


async def test_the_guess_is_reserved_under_the_accounts_key_and_the_callers_address(p: FakePorts) -> None:
    user = a_user(p)
    await use_cases(p).login("ADA@Example.com", PASSWORD, CONTEXT)
    [ticket] = p.limiter.reserved
    assert ticket.account_key == account_key(user.email) and ticket.source == CONTEXT.ip
    assert user.email.value not in ticket.account_key


async def test_a_wrong_password_fails_is_audited_and_counts_as_a_failed_guess(p: FakePorts) -> None:
    user = a_user(p)
    with pytest.raises(InvalidCredentials):
        await use_cases(p).login(user.email.value, "not-the-password", CONTEXT)
    [event] = p.tables.audit
    assert event.type == AuditEventType.LOGIN_FAILED and event.user_id == user.id
    assert event.details == {"reason": "wrong_password"}
    assert list(p.limiter.settled.values()) == ["failed"]
    assert p.metrics.events == [AuthEvent.LOGIN_FAILURE] and p.tables.sessions == {}


async def test_an_unknown_email_is_verified_against_the_dummy_hash(p: FakePorts) -> None:
    with pytest.raises(InvalidCredentials):
        await use_cases(p).login("nobody@example.com", PASSWORD, CONTEXT)
    assert p.hasher.verified == [None]  # the same work as a real account
    [event] = p.tables.audit
    assert event.user_id is None and event.context.ip == CONTEXT.ip
    assert event.details == {
        "reason": "unknown_email",
        "account_key": account_key(Email("nobody@example.com")),
        "email": "nobody@example.com",
    }
    assert list(p.limiter.settled.values()) == ["failed"]


async def test_an_unparseable_email_is_still_throttled_and_still_pays_for_a_hash(p: FakePorts) -> None:
    with pytest.raises(InvalidCredentials):
        await use_cases(p).login("not an email", PASSWORD, CONTEXT)
    assert len(p.limiter.reserved) == 1 and p.hasher.verified == [None]


async def test_an_outdated_hash_is_replaced_on_login(p: FakePorts) -> None:
    user = a_user(p, scheme="outdated")
    await use_cases(p).login(user.email.value, PASSWORD, CONTEXT)
    stored = p.tables.users[user.id].password_hash
    assert stored != user.password_hash and stored.startswith("current$")
    assert len(p.tables.sessions) == 1 and audit_types(p) == [AuditEventType.LOGIN_SUCCEEDED]
    assert f"db: lock user {user.id}" in p.journal  # the new hash is written under the row lock


async def test_a_current_hash_is_not_rewritten(p: FakePorts) -> None:
    user = a_user(p)
    await use_cases(p).login(user.email.value, PASSWORD, CONTEXT)
    assert p.tables.users[user.id].password_hash == user.password_hash
    assert not any(line.startswith("db: lock") for line in p.journal)  # the one-statement path


async def test_a_password_changed_while_hashing_is_checked_again_and_wins(p: FakePorts) -> None:
    user = a_user(p)

    def change_it() -> None:
        p.hasher.on_verify = None
        p.tables.users[user.id] = replace(user, password_hash=p.hasher.make(NEW_PASSWORD))

    p.hasher.on_verify = change_it
    with pytest.raises(InvalidCredentials):
        await use_cases(p).login(user.email.value, PASSWORD, CONTEXT)
    assert p.hasher.verified[1] == p.tables.users[user.id].password_hash  # verified again against the new hash
    assert p.tables.sessions == {} and list(p.limiter.settled.values()) == ["failed"]


async def test_a_rehash_of_the_same_password_while_hashing_still_logs_in(p: FakePorts) -> None:
    user = a_user(p)

    def rehash_it() -> None:
        p.hasher.on_verify = None
        p.tables.users[user.id] = replace(user, password_hash=p.hasher.make(PASSWORD))

    p.hasher.on_verify = rehash_it
    await use_cases(p).login(user.email.value, PASSWORD, CONTEXT)
    assert len(p.tables.sessions) == 1 and list(p.limiter.settled.values()) == ["correct"]


async def test_an_account_deleted_while_hashing_fails_like_an_unknown_email(p: FakePorts) -> None:
    user = a_user(p)

    def delete_it() -> None:
        del p.tables.users[user.id]

    p.hasher.on_verify = delete_it
    with pytest.raises(InvalidCredentials):
        await use_cases(p).login(user.email.value, PASSWORD, CONTEXT)
    [event] = p.tables.audit
    assert event.user_id is None and event.details is not None and event.details["reason"] == "unknown_email"


async def test_an_error_after_the_reservation_releases_the_guess(p: FakePorts) -> None:
    user = a_user(p)
    p.db.unavailable = True
    with pytest.raises(DependencyUnavailable):
        await use_cases(p).login(user.email.value, PASSWORD, CONTEXT)
    assert list(p.limiter.settled.values()) == ["released"]


async def test_a_limiter_down_after_a_correct_password_does_not_fail_the_login(p: FakePorts) -> None:
    user = a_user(p)
    p.hasher.on_verify = lambda: setattr(p.limiter, "unavailable", True)
    pair = await use_cases(p).login(user.email.value, PASSWORD, CONTEXT)
    assert pair.access_token and len(p.tables.sessions) == 1


async def test_passwords_are_hashed_and_verified_with_no_unit_of_work_open(p: FakePorts) -> None:
    """Hashing may wait in the hasher's queue: holding a connection meanwhile would let one account's requests
    exhaust the pool. (A password changed while hashing is verified again under the row lock, on purpose.)"""
    units_open_while_hashing: list[int] = []
    p.hasher.on_verify = p.hasher.on_hash = lambda: units_open_while_hashing.append(p.db.open_units)
    await use_cases(p).register("ada@example.com", PASSWORD, "Ada", CONTEXT)
    [user] = p.tables.users.values()
    _, principal = await signed_in(p, user)
    with pytest.raises(InvalidCredentials):
        await use_cases(p).login("nobody@example.com", PASSWORD, CONTEXT)
    await use_cases(p).change_password(principal, PASSWORD, NEW_PASSWORD, CONTEXT)
    await use_cases(p).delete_account(principal, NEW_PASSWORD, CONTEXT)
    assert units_open_while_hashing == [0] * 6  # register, login, unknown email, change (verify, hash), delete


# --- SettledGuess --------------------------------------------------------------------------------------------------


async def test_a_guess_left_unsettled_is_released_even_when_cancelled(p: FakePorts) -> None:
    ticket = GuessTicket("t1", "key", None)
    started = asyncio.Event()

    async def guess_then_hang() -> None:
        async with SettledGuess(p.limiter, ticket):
            started.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(guess_then_hang())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert p.limiter.settled == {"t1": "released"}


async def test_a_settled_guess_is_not_released_and_redis_down_on_release_is_swallowed(p: FakePorts) -> None:
    async with SettledGuess(p.limiter, GuessTicket("t1", "key", None)) as guess:
        await guess.failed()
    assert p.limiter.settled == {"t1": "failed"}
    p.limiter.unavailable = True
    async with SettledGuess(p.limiter, GuessTicket("t2", "key", None)):
        pass  # the release fails quietly: the reservation expires on its own
    async with SettledGuess(p.limiter, GuessTicket("t3", "key", None)) as guess:
        await guess.correct()  # and so does forgetting the failures of a correct guess
    with pytest.raises(DependencyUnavailable):
        async with SettledGuess(p.limiter, GuessTicket("t4", "key", None)) as guess:
            await guess.failed()  # a failure that cannot be counted is not hidden


# --- Refresh -------------------------------------------------------------------------------------------------------


async def test_refresh_rotates_the_token_and_touches_the_session(p: FakePorts) -> None:
    user = a_user(p)
    first, principal = await signed_in(p, user)
    p.clock.advance(minutes=5)
    second = await use_cases(p).refresh(first.refresh_token, CONTEXT)
    assert second.refresh_token != first.refresh_token
    # One row per session: the current token replaces its predecessor.
    assert hash_refresh_token(first.refresh_token) not in p.tables.refresh_tokens
    assert p.tables.refresh_tokens[hash_refresh_token(second.refresh_token)].session_id == principal.session_id
    assert len(p.tables.refresh_tokens) == 1
    assert p.tables.sessions[principal.session_id].last_used_at == p.clock.now()
    assert p.tokens.verify(second.access_token).session_id == principal.session_id


async def test_a_retry_inside_the_grace_window_gets_the_same_pair(p: FakePorts) -> None:
    first, _principal = await signed_in(p, a_user(p))
    second = await use_cases(p).refresh(first.refresh_token, CONTEXT)
    p.clock.advance(seconds=9)
    retried = await use_cases(p).refresh(first.refresh_token, CONTEXT)
    assert (retried.refresh_token, retried.access_token) == (second.refresh_token, second.access_token)
    assert retried.expires_in == second.expires_in - 9  # the same access token: it expires when it did
    assert p.tables.revoked_reasons == {}
    assert p.metrics.events[-1] == AuthEvent.REFRESH_RETRY_SERVED
    assert (await use_cases(p).refresh(retried.refresh_token, CONTEXT)).refresh_token != second.refresh_token


async def test_a_retry_after_the_grace_window_is_reuse(p: FakePorts) -> None:
    first, principal = await signed_in(p, a_user(p))
    await use_cases(p).refresh(first.refresh_token, CONTEXT)
    p.clock.advance(seconds=10)
    with pytest.raises(RefreshTokenReused):
        await use_cases(p).refresh(first.refresh_token, CONTEXT)
    assert p.tables.revoked_reasons == {principal.session_id: "refresh_token_reused"}


async def test_an_older_token_is_reuse_even_inside_the_grace_window(p: FakePorts) -> None:
    first, principal = await signed_in(p, a_user(p))
    second = await use_cases(p).refresh(first.refresh_token, CONTEXT)
    await use_cases(p).refresh(second.refresh_token, CONTEXT)
    with pytest.raises(RefreshTokenReused):
        await use_cases(p).refresh(first.refresh_token, CONTEXT)
    assert p.tables.revoked_reasons == {principal.session_id: "refresh_token_reused"}


async def test_a_forged_token_naming_a_session_never_revokes_it(p: FakePorts) -> None:
    first, _principal = await signed_in(p, a_user(p))
    forged = first.refresh_token[:-4] + ("AAAA" if not first.refresh_token.endswith("AAAA") else "BBBB")
    statements_before = p.db.units_entered
    with pytest.raises(InvalidToken):
        await use_cases(p).refresh(forged, CONTEXT)
    assert p.db.units_entered == statements_before  # refused on its MAC, without the database
    assert p.tables.revoked_reasons == {}


async def test_refresh_is_throttled_per_session_and_heals(p: FakePorts) -> None:
    """A token bucket of 10 a minute per session (SESSION_LIMITS): the 11th at once is refused, with the wait."""
    first, _ = await signed_in(p, a_user(p))
    token = first.refresh_token
    for _ in range(10):
        token = (await use_cases(p).refresh(token, CONTEXT)).refresh_token
    with pytest.raises(RefreshThrottled) as refused:
        await use_cases(p).refresh(token, CONTEXT)
    assert refused.value.retry_after_seconds == 6  # one refresh refills in 60 / 10 s
    assert p.metrics.events[-1] == AuthEvent.REFRESH_THROTTLED
    assert p.tables.revoked_reasons == {}  # a throttled refresh changes nothing
    p.clock.advance(seconds=6)
    assert (await use_cases(p).refresh(token, CONTEXT)).refresh_token != token


async def test_refresh_needs_no_redis(p: FakePorts) -> None:
    first, _ = await signed_in(p, a_user(p))
    p.session_cache.unavailable = True
    p.limiter.unavailable = True
    assert (await use_cases(p).refresh(first.refresh_token, CONTEXT)).refresh_token != first.refresh_token


def _session_from_before_generations(p: FakePorts, principal: Principal, token: str) -> None:
    """What the previous release wrote: a random token, a row without generation."""
    p.tables.refresh_tokens.clear()
    p.tables.refresh_tokens[hash_refresh_token(token)] = RefreshTokenRow(principal.session_id, generation=None)


async def test_a_token_from_before_generations_still_refreshes_and_its_reuse_is_detected(p: FakePorts) -> None:
    _, principal = await signed_in(p, a_user(p))
    earlier = secrets.token_urlsafe(32)
    _session_from_before_generations(p, principal, earlier)
    successor = await use_cases(p).refresh(earlier, CONTEXT)
    assert p.refresh_tokens.read(successor.refresh_token) is not None
    assert p.tables.refresh_tokens[hash_refresh_token(earlier)].rotated_at == p.clock.now()  # kept, for detection
    p.clock.advance(seconds=5)
    assert (await use_cases(p).refresh(earlier, CONTEXT)).refresh_token == successor.refresh_token  # a retry
    p.clock.advance(seconds=10)
    with pytest.raises(RefreshTokenReused):
        await use_cases(p).refresh(earlier, CONTEXT)


async def test_an_unknown_refresh_token_is_invalid(p: FakePorts) -> None:
    with pytest.raises(InvalidToken):
        await use_cases(p).refresh("never-issued", CONTEXT)


async def test_a_refresh_token_of_an_idle_session_is_invalid(p: FakePorts) -> None:
    first, _ = await signed_in(p, a_user(p))
    p.clock.advance(days=8)  # past the 7-day idle timeout
    with pytest.raises(InvalidToken):
        await use_cases(p).refresh(first.refresh_token, CONTEXT)


async def test_a_reused_refresh_token_ends_the_whole_session(p: FakePorts) -> None:
    user = a_user(p)
    first, principal = await signed_in(p, user)
    second = await use_cases(p).refresh(first.refresh_token, CONTEXT)
    p.clock.advance(seconds=11)  # past the grace window for retries
    with pytest.raises(RefreshTokenReused):
        await use_cases(p).refresh(first.refresh_token, CONTEXT)
    assert p.tables.revoked_reasons == {principal.session_id: "refresh_token_reused"}
    assert p.session_cache.entries[principal.session_id] is Revoked.TOMBSTONE
    assert audit_types(p)[-1] == AuditEventType.REFRESH_REUSE_DETECTED
    assert p.metrics.events[-1] == AuthEvent.REFRESH_REUSE
    with pytest.raises(InvalidToken):  # the other holder's token dies with the session
        await use_cases(p).refresh(second.refresh_token, CONTEXT)


async def test_reuse_detection_writes_the_tombstone_before_the_database(p: FakePorts) -> None:
    first, _ = await signed_in(p, a_user(p))
    await use_cases(p).refresh(first.refresh_token, CONTEXT)
    p.clock.advance(seconds=11)
    with pytest.raises(RefreshTokenReused):
        await use_cases(p).refresh(first.refresh_token, CONTEXT)
    assert index_of(p.journal, "cache: tombstone") < index_of(p.journal, "db: revoke")


# --- Authenticate --------------------------------------------------------------------------------------------------


async def test_a_cached_active_session_authenticates_without_the_database(p: FakePorts) -> None:
    pair, principal = await signed_in(p, a_user(p))
    p.session_cache.entries[principal.session_id] = CachedSessionState(
        principal.user_id, p.clock.now().replace(year=2027)
    )
    p.db.unavailable = True
    assert await use_cases(p).authenticate(pair.access_token) == principal


async def test_a_tombstone_wins_over_an_active_row(p: FakePorts) -> None:
    pair, principal = await signed_in(p, a_user(p))
    p.session_cache.entries[principal.session_id] = Revoked.TOMBSTONE
    with pytest.raises(InvalidToken):
        await use_cases(p).authenticate(pair.access_token)


async def test_a_cache_miss_reads_the_database_and_fills_the_cache(p: FakePorts) -> None:
    pair, principal = await signed_in(p, a_user(p))
    assert await use_cases(p).authenticate(pair.access_token) == principal
    cached = p.session_cache.entries[principal.session_id]
    assert isinstance(cached, CachedSessionState) and cached.user_id == principal.user_id
    assert cached.active_until == p.tables.sessions[principal.session_id].idle_expires_at


async def test_redis_down_falls_back_to_the_database(p: FakePorts) -> None:
    pair, principal = await signed_in(p, a_user(p))
    p.session_cache.unavailable = True
    assert await use_cases(p).authenticate(pair.access_token) == principal


async def test_an_expired_access_token_is_refused_even_while_its_session_is_cached_as_active(p: FakePorts) -> None:
    pair, principal = await signed_in(p, a_user(p))
    p.session_cache.entries[principal.session_id] = CachedSessionState(
        principal.user_id, p.clock.now().replace(year=2027)
    )
    p.clock.advance(seconds=ACCESS_TOKEN_TTL + 60)  # past the few seconds of leeway the real issuer allows
    with pytest.raises(InvalidToken):
        await use_cases(p).authenticate(pair.access_token)


async def test_a_revoked_row_is_invalid_on_a_cache_miss(p: FakePorts) -> None:
    pair, principal = await signed_in(p, a_user(p))
    p.tables.sessions[principal.session_id] = replace(p.tables.sessions[principal.session_id], revoked_at=p.clock.now())
    with pytest.raises(InvalidToken):
        await use_cases(p).authenticate(pair.access_token)
    assert principal.session_id not in p.session_cache.entries


async def test_a_cached_state_of_another_user_or_past_its_time_is_not_trusted(p: FakePorts) -> None:
    pair, principal = await signed_in(p, a_user(p))
    p.db.unavailable = True  # so any fall-through to the database shows
    for stale in (
        CachedSessionState(uuid4(), p.clock.now().replace(year=2027)),
        CachedSessionState(principal.user_id, p.clock.now()),
    ):
        p.session_cache.entries[principal.session_id] = stale
        with pytest.raises(DependencyUnavailable):
            await use_cases(p).authenticate(pair.access_token)


async def test_a_state_stored_after_a_revocation_never_replaces_its_tombstone(p: FakePorts) -> None:
    user = a_user(p)
    pair, principal = await signed_in(p, user)

    def logout_meanwhile(statement: str) -> None:
        if statement == "sessions.get":  # Authenticate read the row as active; a logout then lands
            p.db.before_statement = None
            p.session_cache.entries[principal.session_id] = Revoked.TOMBSTONE

    p.db.before_statement = logout_meanwhile
    await use_cases(p).authenticate(pair.access_token)
    assert p.session_cache.entries[principal.session_id] is Revoked.TOMBSTONE
    with pytest.raises(InvalidToken):
        await use_cases(p).authenticate(pair.access_token)


# --- Logout, logout-all, revoke one session ------------------------------------------------------------------------


async def test_logout_revokes_only_this_session_tombstone_first(p: FakePorts) -> None:
    user = a_user(p)
    _, principal = await signed_in(p, user)
    _, other = await signed_in(p, user)
    p.journal.clear()  # the logins' own commits
    await use_cases(p).logout(principal, CONTEXT)
    assert p.tables.revoked_reasons == {principal.session_id: "logout"}
    assert p.session_cache.entries == {principal.session_id: Revoked.TOMBSTONE}
    assert (
        index_of(p.journal, "cache: tombstone") < index_of(p.journal, "db: revoke") < index_of(p.journal, "db: commit")
    )
    assert audit_types(p)[-1] == AuditEventType.LOGGED_OUT and p.tables.audit[-1].session_id == principal.session_id
    assert p.tables.sessions[other.session_id].revoked_at is None


async def test_logout_with_redis_down_changes_nothing(p: FakePorts) -> None:
    _, principal = await signed_in(p, a_user(p))
    p.session_cache.unavailable = True
    with pytest.raises(DependencyUnavailable):
        await use_cases(p).logout(principal, CONTEXT)
    assert p.tables.sessions[principal.session_id].revoked_at is None
    assert audit_types(p) == [AuditEventType.LOGIN_SUCCEEDED]


async def test_logout_all_revokes_every_session_of_the_user_and_no_one_elses(p: FakePorts) -> None:
    user, someone_else = a_user(p), a_user(p, "bob@example.com")
    _, first = await signed_in(p, user)
    _, second = await signed_in(p, user)
    _, theirs = await signed_in(p, someone_else)
    await use_cases(p).logout_all(first, CONTEXT)
    assert p.tables.revoked_reasons == {first.session_id: "logout_all", second.session_id: "logout_all"}
    assert set(p.session_cache.entries) == {first.session_id, second.session_id}
    assert p.tables.sessions[theirs.session_id].revoked_at is None
    assert audit_types(p)[-1] == AuditEventType.LOGGED_OUT_ALL


async def test_revoking_a_session_that_is_not_ones_own_looks_like_an_unknown_one(p: FakePorts) -> None:
    _, mine = await signed_in(p, a_user(p))
    _, theirs = await signed_in(p, a_user(p, "bob@example.com"))
    revoke = use_cases(p).revoke_session
    for session_id in (theirs.session_id, uuid4()):
        with pytest.raises(SessionNotFound):
            await revoke(mine, session_id, CONTEXT)
    assert p.tables.revoked_reasons == {} and p.session_cache.entries == {}


async def test_revoking_ones_own_other_session_tombstones_it_first(p: FakePorts) -> None:
    user = a_user(p)
    _, current = await signed_in(p, user)
    _, other = await signed_in(p, user)
    await use_cases(p).revoke_session(current, other.session_id, CONTEXT)
    assert p.tables.revoked_reasons == {other.session_id: "revoked_by_user"}
    assert index_of(p.journal, "cache: tombstone") < index_of(p.journal, "db: revoke")
    assert audit_types(p)[-1] == AuditEventType.SESSION_REVOKED
    page = await use_cases(p).list_sessions(current, None, 10)
    assert [(view.session.id, view.current) for view in page.sessions] == [(current.session_id, True)]
    assert page.next is None


async def test_sessions_are_listed_in_pages_newest_first(p: FakePorts) -> None:
    user = a_user(p)
    principals = []
    for _ in range(5):
        principals.append((await signed_in(p, user))[1])
        p.clock.advance(seconds=1)
    first = await use_cases(p).list_sessions(principals[-1], None, 2)
    second = await use_cases(p).list_sessions(principals[-1], first.next, 2)
    third = await use_cases(p).list_sessions(principals[-1], second.next, 2)
    listed = [v.session.id for page in (first, second, third) for v in page.sessions]
    assert listed == [principal.session_id for principal in reversed(principals)]
    assert third.next is None and first.sessions[0].current


async def test_a_login_past_the_cap_evicts_the_oldest_session_tombstone_first(p: FakePorts) -> None:
    user = a_user(p)
    opened = []
    for _ in range(SESSION_LIMITS.max_sessions_per_account + 1):
        opened.append((await signed_in(p, user))[1])
        p.clock.advance(seconds=1)
    assert p.tables.revoked_reasons == {opened[0].session_id: "session_limit"}
    assert p.session_cache.entries[opened[0].session_id] is Revoked.TOMBSTONE
    assert index_of(p.journal, "cache: tombstone") < index_of(p.journal, "db: revoke")
    evicted = [e for e in p.tables.audit if e.type == AuditEventType.SESSION_EVICTED]
    assert [(e.session_id, e.details) for e in evicted] == [
        (opened[0].session_id, {"reason": "session_limit", "by_session": str(opened[-1].session_id)})
    ]
    assert p.metrics.events.count(AuthEvent.SESSION_EVICTED) == 1


async def test_an_eviction_without_redis_waits_for_the_next_login(p: FakePorts) -> None:
    """No tombstone, no revocation: the login still succeeds, and the account's next login evicts."""
    user = a_user(p)
    for _ in range(SESSION_LIMITS.max_sessions_per_account):
        await signed_in(p, user)
        p.clock.advance(seconds=1)
    p.session_cache.unavailable = True
    await use_cases(p).login(user.email.value, PASSWORD, CONTEXT)
    assert p.tables.revoked_reasons == {}
    assert not [e for e in p.tables.audit if e.type == AuditEventType.SESSION_EVICTED]
    p.session_cache.unavailable = False
    p.clock.advance(seconds=1)
    await use_cases(p).login(user.email.value, PASSWORD, CONTEXT)
    assert list(p.tables.revoked_reasons.values()) == ["session_limit", "session_limit"]


async def test_a_login_that_must_upgrade_the_hash_evicts_under_its_lock(p: FakePorts) -> None:
    user = a_user(p)
    for _ in range(SESSION_LIMITS.max_sessions_per_account):
        await signed_in(p, user)
        p.clock.advance(seconds=1)
    p.tables.users[user.id] = replace(p.tables.users[user.id], password_hash=p.hasher.make(PASSWORD, "outdated"))
    p.journal.clear()
    await use_cases(p).login(user.email.value, PASSWORD, CONTEXT)
    assert list(p.tables.revoked_reasons.values()) == ["session_limit"]
    assert index_of(p.journal, "db: lock user") < index_of(p.journal, "cache: tombstone")
    assert index_of(p.journal, "db: revoke") < index_of(p.journal, "db: commit")


# --- Change password, delete account -------------------------------------------------------------------------------


async def test_changing_the_password_ends_every_other_session(p: FakePorts) -> None:
    user = a_user(p)
    _, current = await signed_in(p, user)
    _, other = await signed_in(p, user)
    p.profile_cache.entries[user.id] = object()  # type: ignore[assignment]
    await use_cases(p).change_password(current, PASSWORD, NEW_PASSWORD, CONTEXT)
    assert p.tables.users[user.id].password_hash.endswith(f"${NEW_PASSWORD}")
    assert p.tables.revoked_reasons == {other.session_id: "password_changed"}
    assert index_of(p.journal, "cache: tombstone") < index_of(p.journal, "db: revoke")
    assert audit_types(p)[-1] == AuditEventType.PASSWORD_CHANGED
    assert user.id not in p.profile_cache.entries


async def test_a_session_opened_while_the_new_password_was_hashed_is_ended_too(p: FakePorts) -> None:
    user = a_user(p)
    _, current = await signed_in(p, user)
    late = Session.start(
        id=uuid4(), user_id=user.id, now=p.clock.now(), policy=SESSION_POLICY, user_agent=None, ip=None
    )

    def log_in_meanwhile(statement: str) -> None:
        if statement == "users.lock":  # a login that committed just before the password change locked the row
            p.db.before_statement = None
            p.tables.sessions[late.id] = late

    p.db.before_statement = log_in_meanwhile
    await use_cases(p).change_password(current, PASSWORD, NEW_PASSWORD, CONTEXT)
    assert p.tables.revoked_reasons == {late.id: "password_changed"}


async def test_a_wrong_current_password_changes_nothing_and_is_audited(p: FakePorts) -> None:
    user = a_user(p)
    _, current = await signed_in(p, user)
    with pytest.raises(WrongPassword):
        await use_cases(p).change_password(current, "not-the-password", NEW_PASSWORD, CONTEXT)
    assert p.tables.users[user.id].password_hash == user.password_hash and p.hasher.hashed == []
    assert p.tables.audit[-1].type == AuditEventType.PASSWORD_CHANGE_FAILED
    assert p.tables.audit[-1].details == {"reason": "wrong_password"}
    assert list(p.limiter.settled.values())[-1] == "failed" and p.limiter.logins_counted == 1  # only the login


async def test_a_throttled_reauthentication_computes_no_hash(p: FakePorts) -> None:
    _, current = await signed_in(p, a_user(p))
    p.limiter.refuse_guesses = RetryAfter(seconds=7)
    verified_before = len(p.hasher.verified)
    with pytest.raises(ReauthThrottled):
        await use_cases(p).change_password(current, PASSWORD, NEW_PASSWORD, CONTEXT)
    assert len(p.hasher.verified) == verified_before and p.hasher.hashed == []


async def test_a_common_new_password_is_refused_before_anything_is_written(p: FakePorts) -> None:
    user = a_user(p)
    _, current = await signed_in(p, user)
    with pytest.raises(WeakPassword):
        await use_cases(p).change_password(current, PASSWORD, "password1234", CONTEXT)
    assert p.tables.users[user.id] == user and p.hasher.hashed == []


async def test_a_password_changed_between_reauthentication_and_the_lock_wins(p: FakePorts) -> None:
    user = a_user(p)
    _, current = await signed_in(p, user)

    def change_it(statement: str) -> None:
        if statement == "users.lock":
            p.db.before_statement = None
            p.tables.users[user.id] = replace(user, password_hash=p.hasher.make("Someone-Else-Set-This-9"))

    p.db.before_statement = change_it
    with pytest.raises(WrongPassword):
        await use_cases(p).delete_account(current, PASSWORD, CONTEXT)
    assert user.id in p.tables.users


async def test_deleting_the_account_tombstones_every_session_before_the_rows_go(p: FakePorts) -> None:
    user = a_user(p)
    _, current = await signed_in(p, user)
    _, other = await signed_in(p, user)
    await use_cases(p).delete_account(current, PASSWORD, CONTEXT)
    assert user.id not in p.tables.users and p.tables.sessions == {} and p.tables.refresh_tokens == {}
    assert p.session_cache.entries == {current.session_id: Revoked.TOMBSTONE, other.session_id: Revoked.TOMBSTONE}
    assert (
        index_of(p.journal, "cache: tombstone")
        < index_of(p.journal, "db: revoke")
        < index_of(p.journal, "db: delete user")
    )
    assert audit_types(p)[-1] == AuditEventType.ACCOUNT_DELETED and p.tables.audit[-1].user_id == user.id


async def test_a_wrong_password_keeps_the_account(p: FakePorts) -> None:
    user = a_user(p)
    _, current = await signed_in(p, user)
    with pytest.raises(WrongPassword):
        await use_cases(p).delete_account(current, "not-the-password", CONTEXT)
    assert user.id in p.tables.users and p.tables.audit[-1].type == AuditEventType.ACCOUNT_DELETION_FAILED


# --- Registration --------------------------------------------------------------------------------------------------


async def test_registration_stores_the_hash_audits_and_counts(p: FakePorts) -> None:
    registered = await use_cases(p).register("ada@example.com", PASSWORD, "  Ada  ", CONTEXT)
    profile = registered.profile
    stored = p.tables.users[profile.id]
    assert stored.password_hash.endswith(f"${PASSWORD}") and profile.display_name == "Ada"
    assert audit_types(p) == [AuditEventType.REGISTERED] and p.metrics.events == [AuthEvent.REGISTRATION]


async def test_a_throttled_registration_computes_no_hash(p: FakePorts) -> None:
    p.limiter.refuse_registrations = RetryAfter(seconds=60)
    with pytest.raises(RegistrationThrottled):
        await use_cases(p).register("ada@example.com", PASSWORD, "Ada", CONTEXT)
    assert p.hasher.hashed == [] and p.tables.users == {}
    await p.throttle_audit.flush()
    [event] = p.tables.audit
    assert event.type == AuditEventType.REGISTRATION_THROTTLED and event.context.ip == CONTEXT.ip


async def test_registration_is_admitted_when_the_limiter_is_down(p: FakePorts) -> None:
    p.limiter.unavailable = True
    await use_cases(p).register("ada@example.com", PASSWORD, "Ada", CONTEXT)
    assert len(p.tables.users) == 1


async def test_a_weak_password_is_refused_before_the_limiter_counts_it(p: FakePorts) -> None:
    p.limiter.refuse_registrations = RetryAfter(seconds=60)  # asked first, it would answer RegistrationThrottled
    for weak in ("password1234", "short", "ada@example.com-2024"):
        with pytest.raises(WeakPassword):
            await use_cases(p).register("ada@example.com", weak, "Ada", CONTEXT)
    assert p.hasher.hashed == [] and p.tables.users == {}


async def test_an_email_taken_in_another_case_is_refused(p: FakePorts) -> None:
    a_user(p)
    with pytest.raises(EmailAlreadyRegistered):
        await use_cases(p).register("ADA@example.com", PASSWORD, "Ada", CONTEXT)
    assert p.metrics.events == [] and p.tables.audit == []


# --- Profile, keys -------------------------------------------------------------------------------------------------


async def test_the_own_profile_comes_from_the_caches_and_a_tombstone_still_wins(p: FakePorts) -> None:
    user = a_user(p)
    pair, principal = await signed_in(p, user)
    get_own = use_cases(p).get_own_profile
    assert (await get_own(pair.access_token)).email == user.email.value  # fills both caches from PostgreSQL
    p.db.unavailable = True
    assert (await get_own(pair.access_token)).id == user.id  # both from the caches
    p.session_cache.entries[principal.session_id] = Revoked.TOMBSTONE
    with pytest.raises(InvalidToken):
        await get_own(pair.access_token)


async def test_a_profile_update_writes_only_what_was_sent_and_forgets_the_cached_copy(p: FakePorts) -> None:
    user = a_user(p)
    _, principal = await signed_in(p, user)
    p.profile_cache.entries[user.id] = object()  # type: ignore[assignment]
    update = use_cases(p).update_profile
    profile = await update(principal, ProfileChanges(bio="  hello  ", fields_set=frozenset({"bio"})))
    assert profile.bio == "hello" and profile.display_name == "Ada"
    assert user.id not in p.profile_cache.entries


async def test_the_public_keys_are_the_token_issuers(p: FakePorts) -> None:
    assert use_cases(p).public_jwks() == p.tokens.public_jwks()


# --- Audit contents ------------------------------------------------------------------------------------------------


async def test_no_audit_event_holds_a_password_a_token_or_a_hash(p: FakePorts) -> None:
    await use_cases(p).register("ada@example.com", PASSWORD, "Ada", CONTEXT)
    [user] = p.tables.users.values()
    with pytest.raises(InvalidCredentials):
        await use_cases(p).login("ada@example.com", "Wrong-Guess-Secret-1", CONTEXT)
    first, principal = await signed_in(p, user)
    second = await use_cases(p).refresh(first.refresh_token, CONTEXT)
    p.clock.advance(seconds=11)
    with pytest.raises(RefreshTokenReused):
        await use_cases(p).refresh(first.refresh_token, CONTEXT)
    third, principal = await signed_in(p, user)
    with pytest.raises(WrongPassword):
        await use_cases(p).change_password(principal, "Wrong-Guess-Secret-2", NEW_PASSWORD, CONTEXT)
    await use_cases(p).change_password(principal, PASSWORD, NEW_PASSWORD, CONTEXT)
    hashes = {user.password_hash, p.tables.users[user.id].password_hash}
    await use_cases(p).delete_account(principal, NEW_PASSWORD, CONTEXT)

    assert audit_types(p) == [
        AuditEventType.REGISTERED,
        AuditEventType.LOGIN_FAILED,
        AuditEventType.LOGIN_SUCCEEDED,
        AuditEventType.REFRESH_REUSE_DETECTED,
        AuditEventType.LOGIN_SUCCEEDED,
        AuditEventType.PASSWORD_CHANGE_FAILED,
        AuditEventType.PASSWORD_CHANGED,
        AuditEventType.ACCOUNT_DELETED,
    ]
    secrets = {PASSWORD, NEW_PASSWORD, "Wrong-Guess-Secret-1", "Wrong-Guess-Secret-2", *hashes}
    for pair in (first, second, third):
        secrets |= {pair.access_token, pair.refresh_token, hash_refresh_token(pair.refresh_token).hex()}
    for event in p.tables.audit:
        assert event.context == CONTEXT
        text = repr(event)
        assert not [secret for secret in secrets if secret in text], event


# --- The password helpers ------------------------------------------------------------------------------------------


async def test_lock_and_reverify_verifies_again_only_when_the_hash_changed(p: FakePorts) -> None:
    user = a_user(p)
    async with p.uow() as uow:
        same = await lock_and_reverify(uow, p.hasher, user, PASSWORD, upgraded_hash="kept")
    assert (same.user, same.matches, same.upgraded_hash, p.hasher.verified) == (user, True, "kept", [])

    p.tables.users[user.id] = changed = replace(user, password_hash=p.hasher.make(NEW_PASSWORD))
    async with p.uow() as uow:
        again = await lock_and_reverify(uow, p.hasher, user, PASSWORD, upgraded_hash="kept")
    assert (again.user, again.matches, again.upgraded_hash) == (changed, False, None)

    del p.tables.users[user.id]
    async with p.uow() as uow:
        gone = await lock_and_reverify(uow, p.hasher, user, PASSWORD)
    assert (gone.user, gone.matches) == (None, False)


async def test_reauthenticate_lock_as_verified_raises_for_a_deleted_or_changed_account(p: FakePorts) -> None:
    user = a_user(p)
    async with p.uow() as uow:
        assert await reauthenticate(p).lock_as_verified(uow, user, PASSWORD) == user
    p.tables.users[user.id] = replace(user, password_hash=p.hasher.make(NEW_PASSWORD))
    async with p.uow() as uow:
        with pytest.raises(WrongPassword):
            await reauthenticate(p).lock_as_verified(uow, user, PASSWORD)
    del p.tables.users[user.id]
    async with p.uow() as uow:
        with pytest.raises(InvalidToken):
            await reauthenticate(p).lock_as_verified(uow, user, PASSWORD)


async def test_a_hash_of_the_password_as_typed_verifies_and_is_replaced_by_the_normalized_one(p: FakePorts) -> None:
    typed = "Cafe\u0301-Gorilla-Marmalade"  # decomposed accent; NFKC composes it
    normalized_passwords = NormalizedPasswords(p.hasher)
    matches, new_hash = await normalized_passwords.verify(typed, p.hasher.make(typed))
    assert matches and new_hash is not None and new_hash.endswith("$Caf\u00e9-Gorilla-Marmalade")
    assert await normalized_passwords.verify(typed, new_hash) == (True, None)
    assert await normalized_passwords.verify("Wrong-Password-1", p.hasher.make(typed)) == (False, None)


def test_account_keys_are_per_canonical_address_and_hold_no_address() -> None:
    assert account_key(Email("Ada@Example.COM")) == account_key(Email("ada@example.com"))
    assert account_key(Email("ada@example.com")) != account_key(Email("bob@example.com"))
    assert "ada" not in account_key(Email("ada@example.com"))


# --- Known devices -------------------------------------------------------------------------------------------------


async def test_registration_hands_out_a_device_that_later_logins_of_the_account_are_counted_under(
    p: FakePorts,
) -> None:
    registered = await use_cases(p).register("ada@example.com", PASSWORD, "Ada", CONTEXT)
    [stored] = p.tables.devices  # only the hash is stored
    assert stored == hash_device_token(registered.device_token) and registered.device_token.encode() != stored
    pair = await use_cases(p).login("ADA@example.com", PASSWORD, CONTEXT, registered.device_token)
    assert pair.device_token == registered.device_token
    [ticket] = p.limiter.reserved
    assert ticket.device is not None and ticket.device not in registered.device_token


async def test_a_login_without_a_known_device_is_an_unknown_devices_guess_and_gets_a_new_device(
    p: FakePorts,
) -> None:
    user = a_user(p)
    other = a_user(p, email="grace@example.com")
    others_device = (await use_cases(p).login(other.email.value, PASSWORD, CONTEXT)).device_token
    for presented in (None, "not-a-device-token", others_device, "x" * 10_000):
        pair = await use_cases(p).login(user.email.value, PASSWORD, CONTEXT, presented)
        assert pair.device_token is not None and pair.device_token != presented
        assert p.limiter.reserved[-1].device is None


async def test_a_device_is_forgotten_after_its_lifetime(p: FakePorts) -> None:
    user = a_user(p)
    device = (await use_cases(p).login(user.email.value, PASSWORD, CONTEXT)).device_token
    p.clock.advance(days=31)
    assert (await use_cases(p).login(user.email.value, PASSWORD, CONTEXT, device)).device_token != device
    assert p.limiter.reserved[-1].device is None


async def test_reauthentication_counts_in_the_sessions_own_budget(p: FakePorts) -> None:
    user = a_user(p)
    _, principal = await signed_in(p, user)
    await reauthenticate(p)(principal, PASSWORD, CONTEXT, AuditEventType.PASSWORD_CHANGE_FAILED)
    assert p.limiter.reserved[-1].device == f"session-{principal.session_id}"


async def test_a_throttled_reauthentication_is_audited_and_counted(p: FakePorts) -> None:
    user = a_user(p)
    _, principal = await signed_in(p, user)
    p.limiter.refuse_guesses = RetryAfter(seconds=8, limit="device")
    with pytest.raises(ReauthThrottled):
        await reauthenticate(p)(principal, PASSWORD, CONTEXT, AuditEventType.ACCOUNT_DELETION_FAILED)
    await p.throttle_audit.flush()
    event = p.tables.audit[-1]
    assert event.type == AuditEventType.REAUTH_THROTTLED and event.user_id == user.id
    assert event.details is not None and event.details["count"] == 1
    assert {k: event.details[k] for k in ("limit", "retry_after", "operation")} == {
        "limit": "device",
        "retry_after": "8",
        "operation": "account_deletion_failed",
    }
    assert p.metrics.events[-1] == AuthEvent.REAUTH_THROTTLED


async def test_a_login_stands_when_its_device_cannot_be_remembered(p: FakePorts) -> None:
    user = a_user(p)

    def database_gone(statement: str) -> None:
        if statement == "devices.remember":
            raise DependencyUnavailable("postgresql")

    p.db.before_statement = database_gone
    pair = await use_cases(p).login(user.email.value, PASSWORD, CONTEXT)
    assert pair.device_token is None and p.tables.sessions


async def test_lifting_a_block_names_the_accounts_key_and_is_audited(p: FakePorts) -> None:
    from auth_service.application.unblock import LiftThrottles

    lift = LiftThrottles(limiter=p.limiter, uow=p.uow, clock=p.clock)
    lifted = await lift(email="ADA@example.com", ip="198.51.100.7", operator="ops")
    assert p.limiter.lifted == [(account_key(Email("ada@example.com")), "198.51.100.7")] and lifted.audited
    event = p.tables.audit[-1]
    assert event.type == AuditEventType.THROTTLE_LIFTED and event.context.ip == "198.51.100.7"
    with pytest.raises(ValueError):
        await lift(email=None, ip=None, operator="ops")
