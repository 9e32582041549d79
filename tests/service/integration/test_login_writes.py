"""A password login's writes (session, refresh token, audit row) are one atomic statement on real PostgreSQL."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from auth_service.adapters.postgres.database import create_engine
from auth_service.adapters.postgres.repositories import PostgresUnitOfWork, PostgresUnitOfWorkFactory
from auth_service.application.ports import AuditEvent, AuditEventType, PresentedToken, RefreshBudget, RequestContext
from auth_service.domain.model import Session, SessionPolicy, User
from auth_service.domain.values import Email
from auth_service.settings import Settings
from tests.service.integration.helpers import execute, query
from tests.support.app import Service, unique_email

POLICY = SessionPolicy(absolute_lifetime=timedelta(days=14), idle_timeout=timedelta(days=3))
BUDGET = RefreshBudget(capacity=10, per_second=10 / 60)


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings.sqlalchemy_url(), sslmode="prefer", pool_size=2)
    yield engine
    await engine.dispose()


async def _user(engine: AsyncEngine, password_hash: str = "$argon2id$stored") -> User:
    now = datetime.now(UTC)
    user = User(
        id=uuid4(),
        email=Email(unique_email()),
        display_name="Writer",
        password_hash=password_hash,
        created_at=now,
        updated_at=now,
    )
    async with PostgresUnitOfWork(engine) as uow:
        await uow.users.add(user)
        await uow.commit()
    return user


def _login_writes(user: User, ip: str = "198.51.100.9") -> tuple[Session, bytes, AuditEvent]:
    now = datetime.now(UTC)
    session = Session.start(id=uuid4(), user_id=user.id, now=now, policy=POLICY, user_agent="agent", ip=ip)
    event = AuditEvent(
        type=AuditEventType.LOGIN_SUCCEEDED,
        occurred_at=now,
        context=RequestContext(ip=ip, user_agent="agent"),
        user_id=user.id,
        session_id=session.id,
    )
    return session, hashlib.sha256(uuid4().bytes).digest(), event


async def _rows_for(settings: Settings, session_id: UUID) -> tuple[int, int, int]:
    sessions = await query(settings, "SELECT count(*) AS n FROM sessions WHERE id = :id", id=session_id)
    tokens = await query(settings, "SELECT count(*) AS n FROM refresh_tokens WHERE session_id = :id", id=session_id)
    audits = await query(settings, "SELECT count(*) AS n FROM audit_events WHERE session_id = :id", id=session_id)
    return sessions[0].n, tokens[0].n, audits[0].n


async def test_writes_session_refresh_token_and_audit_row_together(engine: AsyncEngine, settings: Settings) -> None:
    user = await _user(engine)
    session, token_hash, event = _login_writes(user)
    async with PostgresUnitOfWork(engine, atomic=False) as uow:
        assert await uow.sessions.add_after_login(session, token_hash, user.password_hash, event)
    assert await _rows_for(settings, session.id) == (1, 1, 1)
    [row] = await query(
        settings,
        "SELECT t.token_hash, a.event_type, a.user_id, host(a.ip) AS ip, a.user_agent, "
        "s.idle_timeout_seconds FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id "
        "JOIN audit_events a ON a.session_id = s.id WHERE s.id = :id",
        id=session.id,
    )
    assert bytes(row.token_hash) == token_hash
    assert (row.event_type, row.user_id, row.ip, row.user_agent) == (
        "login_succeeded",
        user.id,
        "198.51.100.9",
        "agent",
    )
    assert row.idle_timeout_seconds == 3 * 24 * 3600


async def test_writes_nothing_when_the_password_changed_since_it_was_read(
    engine: AsyncEngine, settings: Settings
) -> None:
    user = await _user(engine, password_hash="$argon2id$new-hash-after-a-password-change")
    session, token_hash, event = _login_writes(user)
    async with PostgresUnitOfWork(engine, atomic=False) as uow:
        assert not await uow.sessions.add_after_login(session, token_hash, "$argon2id$the-hash-we-verified", event)
    assert await _rows_for(settings, session.id) == (0, 0, 0)


async def test_writes_nothing_for_a_deleted_account(engine: AsyncEngine, settings: Settings) -> None:
    user = await _user(engine)
    async with PostgresUnitOfWork(engine) as uow:
        await uow.users.delete(user.id)
        await uow.commit()
    session, token_hash, event = _login_writes(user)
    async with PostgresUnitOfWork(engine, atomic=False) as uow:
        assert not await uow.sessions.add_after_login(session, token_hash, user.password_hash, event)
    assert await _rows_for(settings, session.id) == (0, 0, 0)


async def test_a_failing_audit_insert_leaves_no_session_or_token(engine: AsyncEngine, settings: Settings) -> None:
    user = await _user(engine)
    session, token_hash, event = _login_writes(user)
    broken = AuditEvent(
        type=event.type,
        occurred_at=event.occurred_at,
        session_id=event.session_id,
        user_id=event.user_id,
        context=RequestContext(ip="not an address", user_agent="agent"),
    )
    with pytest.raises(DBAPIError):
        async with PostgresUnitOfWork(engine, atomic=False) as uow:
            await uow.sessions.add_after_login(session, token_hash, user.password_hash, broken)
    assert await _rows_for(settings, session.id) == (0, 0, 0)


async def test_login_through_the_api_stores_the_returned_refresh_token_and_audits_the_session(
    service: Service,
) -> None:
    user = await service.register()
    tokens = await service.login(user["email"])
    presented = hashlib.sha256(tokens["refresh_token"].encode()).digest()
    rows = await query(
        service.settings,
        "SELECT s.id, s.user_id, a.event_type FROM refresh_tokens t "
        "JOIN sessions s ON s.id = t.session_id JOIN audit_events a ON a.session_id = s.id "
        "WHERE t.token_hash = :hash",
        hash=presented,
    )
    assert [(r.user_id, r.event_type) for r in rows] == [(UUID(user["id"]), "login_succeeded")]


async def test_refresh_rotation_of_an_idle_expired_session_changes_nothing(
    engine: AsyncEngine, settings: Settings
) -> None:
    """The single refresh statement applies Session.is_active itself: an idle session is not revived."""
    user = await _user(engine)
    session, token_hash, event = _login_writes(user)
    async with PostgresUnitOfWork(engine, atomic=False) as uow:
        assert await uow.sessions.add_after_login(session, token_hash, user.password_hash, event)
        later = session.last_used_at + POLICY.idle_timeout + timedelta(seconds=1)
        rotated = await uow.sessions.rotate_refresh_token(session.id, token_hash, 0, b"n" * 32, later, BUDGET)
        state = await uow.sessions.refresh_state(token_hash, session.id)
    assert rotated is None
    assert state is not None and state.presented is PresentedToken.CURRENT and not state.session.is_active(later)
    assert await _rows_for(settings, session.id) == (1, 1, 1)
    [row] = await query(
        settings,
        "SELECT last_used_at, refresh_generation, (SELECT rotated_at FROM refresh_tokens WHERE "
        "session_id = :id) AS rotated_at FROM sessions WHERE id = :id",
        id=session.id,
    )
    assert row.last_used_at == session.last_used_at and row.rotated_at is None and row.refresh_generation == 0


async def test_refresh_rotation_of_an_active_session_rotates_once(engine: AsyncEngine, settings: Settings) -> None:
    user = await _user(engine)
    session, token_hash, event = _login_writes(user)
    async with PostgresUnitOfWork(engine, atomic=False) as uow:
        assert await uow.sessions.add_after_login(session, token_hash, user.password_hash, event)
        now = session.last_used_at + timedelta(minutes=1)
        first = await uow.sessions.rotate_refresh_token(session.id, token_hash, 0, b"a" * 32, now, BUDGET)
        again = await uow.sessions.rotate_refresh_token(session.id, token_hash, 0, b"b" * 32, now, BUDGET)
        wrong_generation = await uow.sessions.rotate_refresh_token(session.id, b"a" * 32, 0, b"d" * 32, now, BUDGET)
        unknown = await uow.sessions.rotate_refresh_token(session.id, b"c" * 32, 1, b"d" * 32, now, BUDGET)
        state = await uow.sessions.refresh_state(token_hash, session.id)
    assert first is not None and first.id == session.id and first.last_used_at == now
    assert again is None and wrong_generation is None and unknown is None
    assert state is not None
    assert (state.generation, state.current_hash, state.rotated_at) == (1, b"a" * 32, now)
    assert state.presented is PresentedToken.UNKNOWN  # replaced in place: no row for the rotated token
    assert (await _rows_for(settings, session.id))[1] == 1  # one refresh-token row per session


async def test_the_rotation_statement_applies_the_refresh_budget(engine: AsyncEngine, settings: Settings) -> None:
    """The per-session throttle lives in the rotation statement: with the bucket empty nothing changes."""
    user = await _user(engine)
    session, token_hash, event = _login_writes(user)
    tight = RefreshBudget(capacity=2, per_second=1 / 30)
    now = session.last_used_at + timedelta(minutes=1)
    async with PostgresUnitOfWork(engine, atomic=False) as uow:
        assert await uow.sessions.add_after_login(session, token_hash, user.password_hash, event)
        assert await uow.sessions.rotate_refresh_token(session.id, token_hash, 0, b"1" * 32, now, tight)
        assert await uow.sessions.rotate_refresh_token(session.id, b"1" * 32, 1, b"2" * 32, now, tight)
        refused = await uow.sessions.rotate_refresh_token(session.id, b"2" * 32, 2, b"3" * 32, now, tight)
        state = await uow.sessions.refresh_state(b"2" * 32, session.id)
        later = now + timedelta(seconds=30)  # one refresh refilled
        healed = await uow.sessions.rotate_refresh_token(session.id, b"2" * 32, 2, b"3" * 32, later, tight)
    assert refused is None
    assert state is not None and state.presented is PresentedToken.CURRENT
    assert state.allowance == 0 and tight.allowance(state.allowance, state.rotated_at, now) == 0
    assert healed is not None


async def test_a_token_row_from_before_generations_is_kept_as_rotated(engine: AsyncEngine, settings: Settings) -> None:
    """Rows the previous release wrote (generation NULL): rotating one keeps it, marked, for reuse detection."""
    user = await _user(engine)
    session, token_hash, event = _login_writes(user)
    async with PostgresUnitOfWork(engine, atomic=False) as uow:
        assert await uow.sessions.add_after_login(session, token_hash, user.password_hash, event)
    await execute(settings, "UPDATE refresh_tokens SET generation = NULL WHERE session_id = :id", id=session.id)
    await execute(settings, "UPDATE sessions SET refresh_generation = NULL WHERE id = :id", id=session.id)
    async with PostgresUnitOfWork(engine, atomic=False) as uow:
        before = await uow.sessions.refresh_state(token_hash, None)
        now = session.last_used_at + timedelta(minutes=1)
        rotated = await uow.sessions.rotate_refresh_token(session.id, token_hash, 0, b"s" * 32, now, BUDGET)
        after = await uow.sessions.refresh_state(token_hash, None)
    assert before is not None and (before.generation, before.presented) == (0, PresentedToken.CURRENT)
    assert rotated is not None
    assert after is not None and after.presented is PresentedToken.ROTATED
    assert (after.generation, after.current_hash) == (1, b"s" * 32)
    assert (await _rows_for(settings, session.id))[1] == 2


async def test_the_factory_gives_autocommit_and_atomic_units_of_work(engine: AsyncEngine, settings: Settings) -> None:
    factory = PostgresUnitOfWorkFactory(engine)
    committed, rolled_back = await _user(engine), await _user(engine)
    async with factory(atomic=False) as uow:  # each statement commits by itself: no commit() needed
        await uow.users.delete(committed.id)
    async with factory() as uow:  # atomic: leaving without commit() rolls back
        await uow.users.delete(rolled_back.id)
    rows = await query(settings, "SELECT id FROM users WHERE id IN (:a, :b)", a=committed.id, b=rolled_back.id)
    assert [r.id for r in rows] == [rolled_back.id]
