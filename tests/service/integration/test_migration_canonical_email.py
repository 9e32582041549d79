"""Migration 0002 backfills the canonical email of existing accounts, and refuses to guess on a collision."""

import unicodedata
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from auth_service.adapters.postgres.database import _alembic_config, create_engine
from auth_service.adapters.security.hashing import Argon2PasswordHasher
from auth_service.settings import Settings
from devenv.database_admin import create_database, drop_database
from devenv.services import with_database
from tests.support.app import STRONG_PASSWORD, serving, with_settings


@pytest.fixture
async def old_schema(admin_url: str) -> AsyncIterator[tuple[str, AsyncEngine]]:
    """A fresh database at revision 0001, as the previous release left it."""
    name = f"auth_mig_{uuid.uuid4().hex[:8]}"
    await create_database(admin_url, name)
    url = with_database(admin_url, name)
    engine = create_engine(Settings(database_url=url).sqlalchemy_url(), sslmode="prefer", pool_size=1)
    await _upgrade(engine, "0001_initial")
    yield url, engine
    await engine.dispose()
    await drop_database(admin_url, name)


async def _upgrade(engine: AsyncEngine, revision: str) -> None:
    async with engine.connect() as connection:
        await connection.run_sync(lambda sync: command.upgrade(_alembic_config(sync), revision))
        await connection.commit()


async def _insert_users(engine: AsyncEngine, emails: list[str], password_hash: str = "x") -> None:
    now = datetime.now(UTC)
    async with engine.begin() as connection:
        for email in emails:
            await connection.execute(
                text(
                    "INSERT INTO users (id, email, display_name, password_hash, created_at, updated_at) "
                    "VALUES (:id, :email, 'Old', :hash, :now, :now)"
                ),
                {"id": uuid.uuid4(), "email": email, "hash": password_hash, "now": now},
            )


async def _scalar(engine: AsyncEngine, sql: str) -> object:
    async with engine.connect() as connection:
        return (await connection.execute(text(sql))).scalar()


async def test_existing_accounts_get_their_canonical_address_and_can_log_in(
    old_schema: tuple[str, AsyncEngine], settings: Settings
) -> None:
    url, engine = old_schema
    hasher = Argon2PasswordHasher(concurrency=1)
    nfd = unicodedata.normalize("NFD", "José@example.com")
    await _insert_users(
        engine, ["İnci@Example.com", nfd, "user@xn--bcher-kva.example"], await hasher.hash(STRONG_PASSWORD)
    )
    hasher.close()

    await _upgrade(engine, "head")

    async with engine.connect() as connection:
        rows = (await connection.execute(text("SELECT email, email_canonical FROM users"))).all()
    assert {r.email_canonical for r in rows} == {
        "i\u0307nci@example.com",
        "josé@example.com",
        "user@xn--bcher-kva.example",
    }
    assert await _scalar(engine, "SELECT count(*) FROM pg_indexes WHERE indexname = 'uq_users_email_lower'") == 0
    async with serving(with_settings(settings, database_url=url)) as svc:
        for typed in ("İnci@EXAMPLE.com", "josé@example.com", "user@bücher.example"):
            response = await svc.client.post("/auth/login", json={"email": typed, "password": STRONG_PASSWORD})
            assert response.status_code == 200, (typed, response.text)


async def test_two_rows_that_become_one_identity_stop_the_migration_unchanged(
    old_schema: tuple[str, AsyncEngine],
) -> None:
    _, engine = old_schema
    await _insert_users(engine, ["straße@example.com", "STRASSE@example.com"])  # distinct under lower()

    with pytest.raises(Exception, match="sharing one canonical address"):
        await _upgrade(engine, "head")

    assert await _scalar(engine, "SELECT version_num FROM alembic_version") == "0001_initial"
    assert (
        await _scalar(
            engine,
            "SELECT count(*) FROM information_schema.columns "
            "WHERE table_name = 'users' AND column_name = 'email_canonical'",
        )
        == 0
    )
