"""Migration 0003 during a rolling deploy: the previous release and this one on one database, both ways."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from auth_service.adapters.postgres.database import create_engine, migrate
from auth_service.adapters.postgres.schema import metadata
from auth_service.settings import Settings
from devenv.database_admin import create_database, drop_database
from devenv.services import with_database
from tests.service.integration.helpers import assert_problem, newest_migration, query
from tests.support.app import FixedClock, Service, serving

# The previous release's refresh statement, verbatim: what its tasks run against the new schema during the rollout.
PREVIOUS_ROTATE = text("""
    WITH presented AS (
        SELECT s.*, t.rotated_at AS token_rotated_at
        FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id
        WHERE t.token_hash = :presented
    ), rotated AS (
        UPDATE refresh_tokens SET rotated_at = :now
        WHERE token_hash = :presented AND rotated_at IS NULL AND session_id IN (
            SELECT id FROM presented
            WHERE revoked_at IS NULL
              AND :now < LEAST(expires_at, last_used_at + idle_timeout_seconds * interval '1 second'))
        RETURNING session_id
    ), issued AS (
        INSERT INTO refresh_tokens (token_hash, session_id, issued_at)
        SELECT :new, session_id, :now FROM rotated
    ), touched AS (
        UPDATE sessions SET last_used_at = :now WHERE id IN (SELECT session_id FROM rotated)
    )
    SELECT presented.*, (SELECT count(*) FROM rotated) AS rotated FROM presented
""")
# ... and how it opened a session: no generation columns, a random token.
PREVIOUS_ADD_SESSION = text("""
    WITH created AS (
        INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, idle_timeout_seconds,
                              user_agent, ip)
        VALUES (:id, :user_id, :created_at, :last_used_at, :expires_at, :idle_timeout_seconds,
                :user_agent, CAST(:ip AS inet))
        RETURNING id, created_at
    )
    INSERT INTO refresh_tokens (token_hash, session_id, issued_at) SELECT :token_hash, id, created_at FROM created
""")


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def _previous_release_login(engine: AsyncEngine, user_id: str, now: datetime) -> str:
    token = secrets.token_urlsafe(32)
    async with engine.begin() as connection:
        await connection.execute(
            PREVIOUS_ADD_SESSION,
            {
                "id": uuid.uuid4(),
                "user_id": uuid.UUID(user_id),
                "created_at": now,
                "last_used_at": now,
                "expires_at": now.replace(year=now.year + 1),
                "idle_timeout_seconds": 86400,
                "user_agent": "previous release",
                "ip": None,
                "token_hash": _hash(token),
            },
        )
    return token


async def _previous_release_refresh(engine: AsyncEngine, token: str, now: datetime) -> tuple[str, Any]:
    successor = secrets.token_urlsafe(32)
    async with engine.begin() as connection:
        row = (
            await connection.execute(PREVIOUS_ROTATE, {"presented": _hash(token), "new": _hash(successor), "now": now})
        ).first()
    return successor, row


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings.sqlalchemy_url(), sslmode="prefer", pool_size=2)
    yield engine
    await engine.dispose()


async def _refresh(service: Service, token: str) -> Any:
    return await service.client.post("/auth/refresh", json={"refresh_token": token})


async def test_a_session_the_previous_release_opened_refreshes_here_and_its_reuse_is_detected(
    settings: Settings, engine: AsyncEngine
) -> None:
    clock = FixedClock()
    async with serving(settings, clock=clock) as service:
        user = await service.register()
        earlier = await _previous_release_login(engine, user["id"], clock.now())
        moved = await _refresh(service, earlier)
        assert moved.status_code == 200, moved.text
        assert moved.json()["refresh_token"].startswith("rt2.")
        onwards = await _refresh(service, moved.json()["refresh_token"])
        assert onwards.status_code == 200
        clock.advance(seconds=1)
        assert_problem(await _refresh(service, earlier), 401, "refresh_token_reused")


async def test_a_token_this_release_issued_works_on_the_previous_release_and_back(
    settings: Settings, engine: AsyncEngine
) -> None:
    clock = FixedClock()
    async with serving(settings, clock=clock) as service:
        user = await service.register()
        issued_here = (await service.login(user["email"]))["refresh_token"]
        clock.advance(seconds=1)
        legacy_successor, row = await _previous_release_refresh(engine, issued_here, clock.now())
        assert row is not None and row.rotated == 1  # the previous release accepts and rotates it
        clock.advance(seconds=1)
        back = await _refresh(service, legacy_successor)  # and this release accepts what it issued
        assert back.status_code == 200, back.text
        clock.advance(seconds=30)
        # The token this release issued first was rotated (by the other release): presenting it again is reuse.
        assert_problem(await _refresh(service, issued_here), 401, "refresh_token_reused")


async def test_the_schema_the_migrations_build_is_the_one_the_code_declares(settings: Settings) -> None:
    engine = create_engine(settings.sqlalchemy_url(), sslmode="prefer", pool_size=1)
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), metadata)
            )
    finally:
        await engine.dispose()
    assert differences == []


async def test_a_release_starts_on_a_database_a_newer_release_migrated(admin_url: str) -> None:
    """A rollback (or this release's task restarting during the next one's rollout) must not fail at migrate."""
    name = f"auth_newer_{uuid.uuid4().hex[:8]}"
    await create_database(admin_url, name)
    url = with_database(admin_url, name)
    engine = create_engine(Settings(database_url=url).sqlalchemy_url(), sslmode="prefer", pool_size=1)
    try:
        await migrate(engine)
        async with engine.begin() as connection:
            await connection.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
        await migrate(engine)  # starts: no "Can't locate revision"
        rows = await query(Settings(database_url=url), "SELECT version_num FROM alembic_version")
        assert [r.version_num for r in rows] == ["9999_from_the_future"]
        # Stamped back by hand to the previous revision (to roll back past 0003): re-applying 0003 is harmless.
        async with engine.begin() as connection:
            await connection.execute(text("UPDATE alembic_version SET version_num = '0002_canonical_email'"))
        await migrate(engine)
        rows = await query(Settings(database_url=url), "SELECT version_num FROM alembic_version")
        assert [r.version_num for r in rows] == [newest_migration()]
    finally:
        await engine.dispose()
        await drop_database(admin_url, name)
