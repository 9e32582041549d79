"""The retention purge on real PostgreSQL: it deletes exactly what is past retention, in bounded batches, one
task at a time, and reports what it did as a metric."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID, uuid4

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from auth_service.adapters.postgres.database import create_engine
from auth_service.adapters.postgres.retention import PURGE_LOCK_KEY, PostgresRetentionStore
from auth_service.application.ports import PurgeReport
from auth_service.application.retention import PurgeExpiredData, RetentionPolicy, purge_periodically
from auth_service.settings import Settings
from tests.service.integration.helpers import execute, query
from tests.support.app import FixedClock, migrated_database, serving, unique_email, with_settings

RETENTION = RetentionPolicy(
    ended_sessions=timedelta(days=7), audit_events=timedelta(days=90), batch_size=1000, max_batches=20
)


@dataclass
class RecordingRetentionMetrics:
    reports: list[PurgeReport] = field(default_factory=list)

    def purged(self, report: PurgeReport) -> None:
        self.reports.append(report)


@pytest.fixture(scope="module")
async def own_database(admin_url: str) -> AsyncIterator[str]:
    """This module counts every row of the tables: a database of its own, migrated like the others."""
    async with migrated_database(admin_url, "auth_retention") as url:
        yield url


@pytest.fixture
def settings(own_database: str) -> Settings:
    return Settings(database_url=own_database, environment="local")


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings.sqlalchemy_url(), sslmode="prefer", pool_size=2)
    yield engine
    await engine.dispose()


@pytest.fixture
async def empty_tables(settings: Settings) -> None:
    await execute(settings, "DELETE FROM audit_events")
    await execute(settings, "DELETE FROM users")  # sessions and refresh tokens go with them


async def _user(settings: Settings) -> UUID:
    user_id = uuid4()
    await execute(
        settings,
        "INSERT INTO users (id, email, email_canonical, display_name, password_hash, created_at, updated_at) "
        "VALUES (:id, :email, :canonical, 'Retained', 'x', now(), now())",
        id=user_id,
        email=(email := unique_email()),
        canonical=email,
    )
    return user_id


async def _session(
    settings: Settings,
    user_id: UUID,
    *,
    created: datetime,
    last_used: datetime | None = None,
    lifetime: timedelta = timedelta(days=14),
    idle: timedelta = timedelta(days=3),
    revoked: datetime | None = None,
) -> UUID:
    session_id = uuid4()
    await execute(
        settings,
        "INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, idle_timeout_seconds, revoked_at, "
        "refresh_generation) VALUES (:id, :user_id, :created, :last_used, :expires, :idle, :revoked, 0)",
        id=session_id,
        user_id=user_id,
        created=created,
        last_used=last_used or created,
        expires=created + lifetime,
        idle=int(idle.total_seconds()),
        revoked=revoked,
    )
    await execute(
        settings,
        "INSERT INTO refresh_tokens (token_hash, session_id, issued_at, generation) VALUES (:hash, :id, :at, 0)",
        hash=session_id.bytes * 2,
        id=session_id,
        at=created,
    )
    return session_id


async def _audit(settings: Settings, occurred: datetime, event_type: str = "login_succeeded") -> None:
    await execute(
        settings,
        "INSERT INTO audit_events (occurred_at, event_type) VALUES (:at, :type)",
        at=occurred,
        type=event_type,
    )


async def _device(settings: Settings, user_id: UUID, expires: datetime) -> bytes:
    token_hash = uuid4().bytes * 2
    await execute(
        settings,
        "INSERT INTO device_tokens (token_hash, user_id, created_at, last_used_at, expires_at) "
        "VALUES (:hash, :user_id, :created, :created, :expires)",
        hash=token_hash,
        user_id=user_id,
        created=expires - timedelta(days=30),
        expires=expires,
    )
    return token_hash


async def _device_hashes(settings: Settings) -> set[bytes]:
    return {bytes(row.token_hash) for row in await query(settings, "SELECT token_hash FROM device_tokens")}


async def _ids(settings: Settings, table: str) -> set[object]:
    return {row.id for row in await query(settings, f"SELECT id FROM {table}")}  # noqa: S608 - a literal of this test


async def test_the_purge_removes_what_is_past_retention_and_nothing_else(
    settings: Settings, engine: AsyncEngine, empty_tables: None
) -> None:
    clock = FixedClock()
    now = clock.now()
    day = timedelta(days=1)
    user = await _user(settings)
    kept = {
        "active": await _session(settings, user, created=now - day),
        "revoked six days ago": await _session(settings, user, created=now - 10 * day, revoked=now - 6 * day),
        "expired six days ago": await _session(
            settings, user, created=now - 20 * day, last_used=now - 6.5 * day, lifetime=14 * day, idle=30 * day
        ),
        "idle-expired six days ago": await _session(settings, user, created=now - 9 * day, idle=3 * day),
        "revoked just inside retention": await _session(
            settings,
            user,
            created=now - 30 * day,
            last_used=now - 8 * day,
            lifetime=40 * day,
            idle=30 * day,
            revoked=now - 7 * day + timedelta(minutes=1),
        ),
    }
    purged = {  # named for the reader: none of these may remain
        "revoked eight days ago": await _session(settings, user, created=now - 9 * day, revoked=now - 8 * day),
        "expired eight days ago": await _session(
            settings, user, created=now - 22 * day, last_used=now - 8.5 * day, lifetime=14 * day, idle=30 * day
        ),
        "idle-expired eight days ago": await _session(settings, user, created=now - 11 * day, idle=3 * day),
    }
    await _audit(settings, now - 89 * day)
    await _audit(settings, now - 91 * day, "login_failed")
    await _audit(settings, now - 400 * day, "registered")
    await _audit(settings, now)

    metrics = RecordingRetentionMetrics()
    report = await PurgeExpiredData(
        store=PostgresRetentionStore(engine), clock=clock, metrics=metrics, policy=RETENTION
    )()

    assert report == PurgeReport(sessions=3, audit_events=2, complete=True)
    assert metrics.reports == [report]
    assert await _ids(settings, "sessions") == set(kept.values())
    assert not set(purged.values()) & await _ids(settings, "sessions")
    tokens = await query(settings, "SELECT DISTINCT session_id AS id FROM refresh_tokens")
    assert {row.id for row in tokens} == set(kept.values())  # the purged sessions' tokens went with them
    audit = await query(settings, "SELECT occurred_at FROM audit_events ORDER BY occurred_at")
    assert [row.occurred_at for row in audit] == [now - 89 * day, now]
    assert await _ids(settings, "users") == {user}  # accounts are never purged
    again = await PurgeExpiredData(
        store=PostgresRetentionStore(engine), clock=clock, metrics=metrics, policy=RETENTION
    )()
    assert again == PurgeReport(sessions=0, audit_events=0, complete=True)


async def test_the_purge_works_in_bounded_batches_and_reports_a_backlog(
    settings: Settings, engine: AsyncEngine, empty_tables: None
) -> None:
    clock = FixedClock()
    user = await _user(settings)
    for _ in range(7):
        await _session(
            settings, user, created=clock.now() - timedelta(days=30), revoked=clock.now() - timedelta(days=20)
        )
    small = RetentionPolicy(
        ended_sessions=timedelta(days=7), audit_events=timedelta(days=90), batch_size=2, max_batches=3
    )
    purge = PurgeExpiredData(
        store=PostgresRetentionStore(engine), clock=clock, metrics=RecordingRetentionMetrics(), policy=small
    )
    assert await purge() == PurgeReport(sessions=6, audit_events=0, complete=False)
    assert await purge() == PurgeReport(sessions=1, audit_events=0, complete=True)
    assert await _ids(settings, "sessions") == set()


async def test_one_task_purges_at_a_time(settings: Settings, engine: AsyncEngine, empty_tables: None) -> None:
    clock = FixedClock()
    user = await _user(settings)
    doomed = await _session(
        settings, user, created=clock.now() - timedelta(days=30), revoked=clock.now() - timedelta(days=20)
    )
    purge = PurgeExpiredData(
        store=PostgresRetentionStore(engine), clock=clock, metrics=RecordingRetentionMetrics(), policy=RETENTION
    )
    async with engine.connect() as other_task:
        await other_task.execute(text("SELECT pg_advisory_lock(:key)"), {"key": PURGE_LOCK_KEY})
        assert await purge() is None  # another task holds the purge: this one does nothing
        assert await _ids(settings, "sessions") == {doomed}
        await other_task.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": PURGE_LOCK_KEY})
    reports = await asyncio.gather(*(purge() for _ in range(4)))  # several tasks at once: one or more run, in turn
    assert sum(r.sessions for r in reports if r is not None) == 1
    assert await _ids(settings, "sessions") == set()


async def test_the_purge_runs_by_itself_on_a_timer(settings: Settings, engine: AsyncEngine, empty_tables: None) -> None:
    clock = FixedClock()
    user = await _user(settings)
    await _session(settings, user, created=clock.now() - timedelta(days=30), revoked=clock.now() - timedelta(days=20))
    metrics = RecordingRetentionMetrics()
    purge = PurgeExpiredData(store=PostgresRetentionStore(engine), clock=clock, metrics=metrics, policy=RETENTION)
    timer = asyncio.create_task(purge_periodically(purge, interval_seconds=0.05))
    try:
        for _ in range(200):
            if len(metrics.reports) >= 2:
                break
            await asyncio.sleep(0.05)
    finally:
        timer.cancel()
        await asyncio.gather(timer, return_exceptions=True)
    assert metrics.reports[0].sessions == 1 and metrics.reports[1].sessions == 0
    assert await _ids(settings, "sessions") == set()


async def test_the_service_purges_by_itself(settings: Settings, empty_tables: None) -> None:
    """create_app starts the timer in every worker (PURGE_INTERVAL_SECONDS), and stops it on shutdown."""
    clock = FixedClock()
    user = await _user(settings)
    await _session(settings, user, created=clock.now() - timedelta(days=30), revoked=clock.now() - timedelta(days=20))
    async with serving(with_settings(settings, purge_interval_seconds=1), clock=clock):
        for _ in range(100):
            if not await _ids(settings, "sessions"):
                break
            await asyncio.sleep(0.05)
    assert await _ids(settings, "sessions") == set()


def test_the_service_starts_the_purge_timer_with_its_settings() -> None:
    """The defaults documented in docs/operations.md ("Data retention")."""
    defaults = Settings(database_url="postgresql://localhost/x")
    assert (defaults.purge_interval_seconds, defaults.purge_batch_size, defaults.purge_max_batches) == (300, 1000, 20)
    assert (defaults.ended_session_retention_days, defaults.audit_retention_days) == (7, 90)


async def test_the_purge_removes_exactly_the_expired_devices(
    settings: Settings, engine: AsyncEngine, empty_tables: None
) -> None:
    clock = FixedClock()
    now = clock.now()
    owner, other = await _user(settings), await _user(settings)
    live = {
        await _device(settings, owner, now + timedelta(days=29)),
        await _device(settings, owner, now + timedelta(seconds=1)),
        await _device(settings, other, now + timedelta(days=1)),
    }
    expired = {
        await _device(settings, owner, now),  # expires_at is the first instant it no longer counts
        await _device(settings, owner, now - timedelta(seconds=1)),
        await _device(settings, other, now - timedelta(days=400)),
    }
    metrics = RecordingRetentionMetrics()
    purge = PurgeExpiredData(store=PostgresRetentionStore(engine), clock=clock, metrics=metrics, policy=RETENTION)

    report = await purge()

    assert report == PurgeReport(sessions=0, audit_events=0, devices=3, complete=True)
    assert metrics.reports == [report]
    assert await _device_hashes(settings) == live and not expired & await _device_hashes(settings)
    assert await _ids(settings, "users") == {owner, other}  # a device's expiry never touches its account
    assert await purge() == PurgeReport(sessions=0, audit_events=0, devices=0, complete=True)


async def test_expired_devices_are_purged_in_bounded_batches_too(
    settings: Settings, engine: AsyncEngine, empty_tables: None
) -> None:
    clock = FixedClock()
    user = await _user(settings)
    for days in range(1, 8):
        await _device(settings, user, clock.now() - timedelta(days=days))
    small = RetentionPolicy(
        ended_sessions=timedelta(days=7), audit_events=timedelta(days=90), batch_size=2, max_batches=3
    )
    purge = PurgeExpiredData(
        store=PostgresRetentionStore(engine), clock=clock, metrics=RecordingRetentionMetrics(), policy=small
    )
    assert await purge() == PurgeReport(sessions=0, audit_events=0, devices=6, complete=False)
    assert await purge() == PurgeReport(sessions=0, audit_events=0, devices=1, complete=True)
    assert await _device_hashes(settings) == set()
