"""The device repository on real PostgreSQL when the account goes away under it."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from auth_service.adapters.postgres.database import create_engine
from auth_service.adapters.postgres.repositories import PostgresUnitOfWork, PostgresUnitOfWorkFactory
from auth_service.application.errors import AccountGone
from auth_service.application.ports import DeviceToken
from auth_service.domain.model import User
from auth_service.domain.values import Email
from auth_service.settings import Settings
from tests.support.app import unique_email


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings.sqlalchemy_url(), sslmode="prefer", pool_size=3)
    yield engine
    await engine.dispose()


async def _user(engine: AsyncEngine) -> User:
    now = datetime.now(UTC)
    user = User(
        id=uuid4(),
        email=Email(unique_email()),
        display_name="Leaving",
        password_hash="$argon2id$stored",
        created_at=now,
        updated_at=now,
    )
    async with PostgresUnitOfWork(engine) as uow:
        await uow.users.add(user)
        await uow.commit()
    return user


async def _wait_until_a_statement_waits_for_a_lock(engine: AsyncEngine, statement_start: str) -> None:
    """Synchronisation, not a timing assertion: poll until PostgreSQL shows the statement blocked on a lock."""
    for _ in range(500):
        async with engine.connect() as probe:
            waiting = await probe.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND datname = current_database() AND query LIKE :start"
                ),
                {"start": f"%{statement_start}%"},
            )
        if waiting:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"no {statement_start!r} statement ever waited for a lock")


async def test_a_device_remembered_while_its_account_is_deleted_reports_the_account_gone(engine: AsyncEngine) -> None:
    """A login that opened its session just before the account's deletion committed remembers the device last:
    the deletion wins, and the foreign-key violation is the application's AccountGone, never a 500."""
    user = await _user(engine)
    now = datetime.now(UTC)
    device = DeviceToken(
        token_hash=hashlib.sha256(uuid4().bytes).digest(),
        user_id=user.id,
        created_at=now,
        expires_at=now + timedelta(days=30),
    )

    async def remember() -> None:
        async with PostgresUnitOfWorkFactory(engine)(atomic=False) as uow:
            await uow.devices.remember(device, now, 10)

    async with engine.connect() as deleting:
        transaction = await deleting.begin()
        await deleting.execute(text("DELETE FROM users WHERE id = :id"), {"id": user.id})
        remembering = asyncio.create_task(remember())
        await _wait_until_a_statement_waits_for_a_lock(engine, "INSERT INTO device_tokens")
        await transaction.commit()
    with pytest.raises(AccountGone):
        await remembering
