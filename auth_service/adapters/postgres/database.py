"""Engine creation, readiness probe and migrations (Alembic, under an advisory lock)."""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from auth_service.application.errors import DependencyUnavailable

log = logging.getLogger(__name__)

# Any constant works; it only has to be the same for every task that migrates this database.
MIGRATION_LOCK_KEY = 0x41_49_44_4C_43  # "AIDLC"


VERIFYING_SSLMODES = frozenset({"verify-ca", "verify-full"})


class CertificateUnusable(RuntimeError):
    """The CA bundle cannot be read, or PostgreSQL's certificate does not verify against it: a configuration
    error that no retry fixes."""


def tls_for(sslmode: str, sslrootcert: str | None) -> str | ssl.SSLContext:
    """What asyncpg's `ssl` takes. For verify-ca and verify-full, a context that trusts only the given CA bundle
    (the system's CAs when none is given) and, for verify-full, checks the host name; the other modes by name."""
    if sslmode not in VERIFYING_SSLMODES:
        return sslmode
    try:
        context = ssl.create_default_context(cafile=sslrootcert)
    except (OSError, ssl.SSLError) as exc:
        raise CertificateUnusable(f"DB_SSLROOTCERT={sslrootcert!r} is not a readable PEM CA bundle: {exc}") from exc
    context.check_hostname = sslmode == "verify-full"
    return context


def is_certificate_rejection(exc: BaseException) -> bool:
    """Whether PostgreSQL's certificate (chain or host name) failed verification, anywhere in the cause chain."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def create_engine(
    url: str,
    *,
    sslmode: str,
    pool_size: int,
    sslrootcert: str | None = None,
    connect_timeout: float = 5.0,
    statement_timeout: float = 10.0,
) -> AsyncEngine:
    connect_args: dict[str, Any] = {
        "timeout": connect_timeout,
        "command_timeout": statement_timeout,
        "server_settings": {"application_name": "aidlc-auth"},
    }
    if "ssl=" not in url and "sslmode=" not in url:
        connect_args["ssl"] = tls_for(sslmode, sslrootcert)
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=connect_timeout,
        # No pre-ping: with asyncpg it costs three round trips (BEGIN, ping, ROLLBACK) per checkout. A connection
        # that died with a PostgreSQL restart fails its first statement instead (503, not 500), and SQLAlchemy
        # then invalidates the whole pool, so the following requests reconnect.
        pool_pre_ping=False,
        pool_recycle=1800,
        hide_parameters=True,  # errors must never log bound values (password hashes, IPs, user agents)
        connect_args=connect_args,
    )


async def ping(engine: AsyncEngine, timeout: float) -> None:
    try:
        async with asyncio.timeout(timeout):
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
    except Exception as exc:
        raise DependencyUnavailable("postgresql") from exc


def _alembic_config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", "auth_service:migrations")
    config.attributes["connection"] = connection
    return config


def unknown_revisions(connection: Connection) -> set[str]:
    """Revisions the database is at that this release does not know: a newer release migrated it."""
    known = {script.revision for script in ScriptDirectory.from_config(_alembic_config(connection)).walk_revisions()}
    return set(MigrationContext.configure(connection).get_current_heads()) - known


def _upgrade(connection: Connection) -> None:
    newer = unknown_revisions(connection)
    if newer:
        # Migrations only ever add (expand only, docs/operations.md): this release runs on the newer schema, so a
        # rollback, or a task of this release restarting during a newer one's rollout, still starts.
        log.warning("database schema is at %s, newer than this release: starting without migrating", sorted(newer))
        return
    command.upgrade(_alembic_config(connection), "head")


async def migrate(engine: AsyncEngine) -> None:
    """Upgrade to the newest schema. Tasks starting together take turns on a PostgreSQL advisory lock."""
    async with engine.connect() as connection:
        await connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        try:
            await connection.commit()
            await connection.run_sync(_upgrade)
            await connection.commit()
        finally:
            await connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
            await connection.commit()
    log.info("database schema is up to date")
