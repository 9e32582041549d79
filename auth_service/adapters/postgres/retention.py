"""The retention purge's PostgreSQL side: a session-level advisory lock so that one task (or worker) of many
purges at a time, and bounded deletes, each its own short transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from auth_service.adapters.postgres.repositories import is_unavailability
from auth_service.application.errors import DependencyUnavailable

# Any constant other than the migration lock's; the same in every task that shares the database.
PURGE_LOCK_KEY = 0x41_49_44_4C_43_50  # "AIDLCP"

# A session has ended when it was revoked, or passed its absolute lifetime or its idle timeout (the rule of
# Session.is_active). SKIP LOCKED: a row a request is changing right now waits for the next batch.
_DELETE_ENDED_SESSIONS = text("""
    DELETE FROM sessions WHERE id IN (
        SELECT id FROM sessions
        WHERE revoked_at < :cutoff
           OR LEAST(expires_at, last_used_at + idle_timeout_seconds * interval '1 second') < :cutoff
        LIMIT :limit FOR UPDATE SKIP LOCKED
    )
""")
_DELETE_AUDIT_EVENTS = text("""
    DELETE FROM audit_events WHERE id IN (
        SELECT id FROM audit_events WHERE occurred_at < :cutoff ORDER BY occurred_at LIMIT :limit FOR UPDATE SKIP LOCKED
    )
""")

# No index on expires_at: the table holds at most DEVICE_TOKENS_PER_ACCOUNT rows per account, so each batch is one
# scan of a small table (an index would cost every login's device write more than it saves the purge).
_DELETE_EXPIRED_DEVICES = text("""
    DELETE FROM device_tokens WHERE token_hash IN (
        SELECT token_hash FROM device_tokens WHERE expires_at <= :cutoff LIMIT :limit FOR UPDATE SKIP LOCKED
    )
""")


class PostgresRetentionBatches:
    def __init__(self, connection: AsyncConnection) -> None:
        self._db = connection  # autocommit: every delete is its own transaction

    async def delete_ended_sessions(self, ended_before: datetime, limit: int) -> int:
        result = await self._db.execute(_DELETE_ENDED_SESSIONS, {"cutoff": ended_before, "limit": limit})
        return result.rowcount

    async def delete_audit_events(self, occurred_before: datetime, limit: int) -> int:
        result = await self._db.execute(_DELETE_AUDIT_EVENTS, {"cutoff": occurred_before, "limit": limit})
        return result.rowcount

    async def delete_expired_devices(self, expired_before: datetime, limit: int) -> int:
        result = await self._db.execute(_DELETE_EXPIRED_DEVICES, {"cutoff": expired_before, "limit": limit})
        return result.rowcount


class PostgresRetentionStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")

    @asynccontextmanager
    async def exclusive(self) -> AsyncIterator[PostgresRetentionBatches | None]:
        try:
            async with self._locked() as batches:
                yield batches
        except Exception as exc:
            if is_unavailability(exc):
                raise DependencyUnavailable("postgresql") from exc
            raise

    @asynccontextmanager
    async def _locked(self) -> AsyncIterator[PostgresRetentionBatches | None]:
        async with self._engine.connect() as connection:
            locked = (
                await connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": PURGE_LOCK_KEY})
            ).scalar_one()
            if not locked:
                yield None
                return
            try:
                yield PostgresRetentionBatches(connection)
            finally:
                await connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": PURGE_LOCK_KEY})
