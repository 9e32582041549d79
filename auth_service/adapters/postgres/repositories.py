"""PostgreSQL adapters for the repository ports, and the Unit of Work that owns the transaction."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Self
from uuid import UUID

from sqlalchemy import bindparam, delete, insert, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from auth_service.adapters.postgres.schema import audit_events, sessions, users
from auth_service.application.errors import AccountGone, DependencyUnavailable
from auth_service.application.ports import (
    AuditEvent,
    AuditLog,
    DeviceRepository,
    DeviceToken,
    PresentedToken,
    RefreshBudget,
    RefreshState,
    SessionPosition,
    SessionRepository,
    UserRepository,
)
from auth_service.domain.errors import EmailAlreadyRegistered
from auth_service.domain.model import Session, User
from auth_service.domain.values import Email

_USER_AGENT_MAX = 512
_PROFILE_COLUMNS = frozenset({"display_name", "bio", "avatar_url"})


# Hot statements are built once: building a Core construct per call (coercions, cache key) cost ≈ 0.4 ms of CPU
# per query, more than the round trip. SQLAlchemy's compiled cache and asyncpg's per-connection prepared
# statement cache then make each execution a cache hit.
_USER_BY_ID = select(users).where(users.c.id == bindparam("user_id"))
# FOR NO KEY UPDATE: conflicts with itself and with DELETE, but not with the KEY SHARE lock that a foreign-key
# insert (a new session) takes.
_USER_BY_ID_LOCKED = _USER_BY_ID.with_for_update(key_share=True)
_USER_BY_EMAIL = select(users).where(users.c.email_canonical == bindparam("email"))
_SESSION_BY_ID = select(sessions).where(sessions.c.id == bindparam("session_id"))
_INSERT_AUDIT_EVENT = insert(audit_events)


def _user_from_row(row: Any) -> User:
    return User(
        id=row.id,
        email=Email(row.email),
        display_name=row.display_name,
        password_hash=row.password_hash,
        created_at=row.created_at,
        updated_at=row.updated_at,
        bio=row.bio,
        avatar_url=row.avatar_url,
    )


def _session_from_row(row: Any) -> Session:
    return Session(
        id=row.id,
        user_id=row.user_id,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        expires_at=row.expires_at,
        idle_timeout=timedelta(seconds=row.idle_timeout_seconds),
        revoked_at=row.revoked_at,
        user_agent=row.user_agent,
        ip=str(row.ip) if row.ip is not None else None,
    )


class PostgresUserRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._db = connection

    async def add(self, user: User) -> None:
        try:
            async with self._db.begin_nested():
                await self._db.execute(insert(users).values(**self._columns(user)))
        except IntegrityError as exc:
            if "uq_users_email_canonical" in str(exc.orig):
                raise EmailAlreadyRegistered() from None
            raise

    async def get(self, user_id: UUID) -> User | None:
        row = (await self._db.execute(_USER_BY_ID, {"user_id": user_id})).first()
        return _user_from_row(row) if row else None

    async def lock(self, user_id: UUID) -> User | None:
        row = (await self._db.execute(_USER_BY_ID_LOCKED, {"user_id": user_id})).first()
        return _user_from_row(row) if row else None

    async def get_by_email(self, email: Email) -> User | None:
        row = (await self._db.execute(_USER_BY_EMAIL, {"email": email.canonical})).first()
        return _user_from_row(row) if row else None

    async def update(self, user: User) -> None:
        values = self._columns(user)
        del values["id"], values["created_at"]
        await self._db.execute(update(users).where(users.c.id == user.id).values(**values))

    async def update_profile(
        self, user_id: UUID, fields: Mapping[str, str | None], updated_at: datetime
    ) -> User | None:
        if not set(fields) <= _PROFILE_COLUMNS:
            raise ValueError(f"not profile columns: {sorted(set(fields) - _PROFILE_COLUMNS)}")
        query = update(users).where(users.c.id == user_id).values(**fields, updated_at=updated_at).returning(users)
        row = (await self._db.execute(query)).first()
        return _user_from_row(row) if row else None

    async def delete(self, user_id: UUID) -> None:
        await self._db.execute(delete(users).where(users.c.id == user_id))

    @staticmethod
    def _columns(user: User) -> dict[str, Any]:
        return {
            "id": user.id,
            "email": user.email.value,
            "email_canonical": user.email.canonical,
            "display_name": user.display_name,
            "bio": user.bio,
            "avatar_url": user.avatar_url,
            "password_hash": user.password_hash,
            "created_at": user.created_at,
            "updated_at": user.updated_at,
        }


class PostgresSessionRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._db = connection

    async def add(self, session: Session, refresh_token_hash: bytes) -> None:
        await self._db.execute(_ADD_SESSION_WITH_TOKEN, {**self._columns(session), "token_hash": refresh_token_hash})

    async def add_after_login(
        self, session: Session, refresh_token_hash: bytes, password_hash: str, event: AuditEvent
    ) -> bool:
        result = await self._db.execute(
            _ADD_SESSION_AFTER_LOGIN,
            {
                **self._columns(session),
                "token_hash": refresh_token_hash,
                "password_hash": password_hash,
                **_audit_columns(event),
            },
        )
        return bool(result.scalar_one())

    @staticmethod
    def _columns(session: Session) -> dict[str, Any]:
        return {
            "id": session.id,
            "user_id": session.user_id,
            "created_at": session.created_at,
            "last_used_at": session.last_used_at,
            "expires_at": session.expires_at,
            "idle_timeout_seconds": int(session.idle_timeout.total_seconds()),
            "user_agent": (session.user_agent or None) and session.user_agent[:_USER_AGENT_MAX],
            "ip": session.ip,
        }

    async def get(self, session_id: UUID) -> Session | None:
        row = (await self._db.execute(_SESSION_BY_ID, {"session_id": session_id})).first()
        return _session_from_row(row) if row else None

    async def list_active(self, user_id: UUID, now: datetime) -> Sequence[Session]:
        query = (
            select(sessions)
            .where(sessions.c.user_id == user_id, sessions.c.revoked_at.is_(None), sessions.c.expires_at > now)
            .order_by(sessions.c.created_at.desc())
            .with_for_update()
        )
        rows = (await self._db.execute(query)).all()
        return [s for s in map(_session_from_row, rows) if s.is_active(now)]

    async def list_active_page(
        self, user_id: UUID, now: datetime, after: SessionPosition | None, limit: int
    ) -> Sequence[Session]:
        params = {"user_id": user_id, "now": now, "limit": limit}
        if after is None:
            result = await self._db.execute(_ACTIVE_SESSIONS_FIRST_PAGE, params)
        else:
            result = await self._db.execute(
                _ACTIVE_SESSIONS_NEXT_PAGE, {**params, "created_at": after.created_at, "id": after.session_id}
            )
        return [_session_from_row(row) for row in result]

    async def oldest_active_beyond(self, user_id: UUID, now: datetime, keep: int) -> Sequence[UUID]:
        result = await self._db.execute(_ACTIVE_SESSIONS_BEYOND, {"user_id": user_id, "now": now, "keep": keep})
        return [row.id for row in result]

    async def revoke(self, session_ids: Sequence[UUID], now: datetime, reason: str) -> None:
        await self._db.execute(
            update(sessions)
            .where(sessions.c.id.in_(list(session_ids)), sessions.c.revoked_at.is_(None))
            .values(revoked_at=now, revoked_reason=reason)
        )

    async def rotate_refresh_token(
        self,
        session_id: UUID,
        presented_hash: bytes,
        generation: int,
        successor_hash: bytes,
        now: datetime,
        budget: RefreshBudget,
    ) -> Session | None:
        result = await self._db.execute(
            _ROTATE_REFRESH_TOKEN,
            {
                "session_id": session_id,
                "presented": presented_hash,
                "generation": generation,
                "successor": successor_hash,
                "now": now,
                "capacity": float(budget.capacity),
                "per_second": budget.per_second,
            },
        )
        row = result.first()
        return _session_from_row(row) if row else None

    async def refresh_state(self, presented_hash: bytes, session_id: UUID | None) -> RefreshState | None:
        row = (await self._db.execute(_REFRESH_STATE, {"presented": presented_hash, "session_id": session_id})).first()
        if row is None:
            return None
        if row.presented_rotated_at is not None:
            presented = PresentedToken.ROTATED
        elif row.presented_known:
            presented = PresentedToken.CURRENT
        else:
            presented = PresentedToken.UNKNOWN
        return RefreshState(
            session=_session_from_row(row),
            generation=row.refresh_generation or 0,
            current_hash=bytes(row.current_hash) if row.current_hash is not None else None,
            rotated_at=row.refresh_rotated_at,
            presented=presented,
            allowance=row.refresh_allowance,
        )


# The same rule as Session.is_active, for a row of `sessions` named s (a constant: the statements below are composed
# of constants only, every value is a bound parameter).
_ACTIVE = (
    "s.revoked_at IS NULL AND :now < LEAST(s.expires_at, s.last_used_at + s.idle_timeout_seconds * interval '1 second')"
)

# Newest first; the keyset (created_at, id) makes a page independent of sessions created or revoked meanwhile.
_ACTIVE_SESSIONS_FIRST_PAGE = text(f"""
    SELECT s.* FROM sessions s WHERE s.user_id = :user_id AND {_ACTIVE}
    ORDER BY s.created_at DESC, s.id DESC LIMIT :limit
""")  # noqa: S608
_ACTIVE_SESSIONS_NEXT_PAGE = text(f"""
    SELECT s.* FROM sessions s WHERE s.user_id = :user_id AND {_ACTIVE}
      AND (s.created_at, s.id) < (CAST(:created_at AS timestamptz), CAST(:id AS uuid))
    ORDER BY s.created_at DESC, s.id DESC LIMIT :limit
""")  # noqa: S608
_ACTIVE_SESSIONS_BEYOND = text(f"""
    SELECT s.id FROM sessions s WHERE s.user_id = :user_id AND {_ACTIVE}
    ORDER BY s.created_at DESC, s.id DESC OFFSET :keep
""")  # noqa: S608

# RefreshBudget.allowance at :now, for a row of `sessions` named s (the refresh throttle, in the same statement).
_ALLOWANCE = (
    "LEAST(CAST(:capacity AS double precision), COALESCE(s.refresh_allowance, CAST(:capacity AS double precision))"
    " + GREATEST(0, CAST(EXTRACT(EPOCH FROM (:now - COALESCE(s.refresh_rotated_at, :now))) AS double precision))"
    " * CAST(:per_second AS double precision))"
)

# One round trip. The presented token must be the session's current one (rotated_at IS NULL) and the session
# active with the expected generation and at least one refresh left in its allowance (the per-session throttle).
# Concurrent rotations of one token serialise on its row lock; the later one then re-checks its WHERE against the
# row as the first left it (another token_hash, or rotated_at set), matches nothing and changes nothing. A token of
# this format is replaced in place (one row per session); a token from before generations is marked rotated and
# kept, so presenting it again is still detected as reuse.
_ROTATE_REFRESH_TOKEN = text(f"""
    WITH live AS (
        SELECT s.id, {_ALLOWANCE} AS allowance FROM sessions s
        WHERE s.id = :session_id AND {_ACTIVE} AND COALESCE(s.refresh_generation, 0) = :generation
          AND {_ALLOWANCE} >= 1
    ), replaced AS (
        UPDATE refresh_tokens SET token_hash = :successor, generation = :generation + 1, issued_at = :now
        WHERE token_hash = :presented AND rotated_at IS NULL AND generation IS NOT NULL
          AND session_id IN (SELECT id FROM live)
        RETURNING session_id
    ), retired AS (
        UPDATE refresh_tokens SET rotated_at = :now
        WHERE token_hash = :presented AND rotated_at IS NULL AND generation IS NULL
          AND session_id IN (SELECT id FROM live)
        RETURNING session_id
    ), issued AS (
        INSERT INTO refresh_tokens (token_hash, session_id, issued_at, generation)
        SELECT :successor, session_id, :now, :generation + 1 FROM retired
    )
    UPDATE sessions SET last_used_at = :now, refresh_generation = :generation + 1, refresh_rotated_at = :now,
                        refresh_allowance = (SELECT allowance FROM live) - 1
    WHERE id IN (SELECT session_id FROM replaced UNION ALL SELECT session_id FROM retired)
    RETURNING *
""")  # noqa: S608

# The session named (or the one the hash belongs to), its current token, and what is known about the presented one.
_REFRESH_STATE = text("""
    SELECT s.*, current_token.token_hash AS current_hash,
           presented.token_hash IS NOT NULL AS presented_known, presented.rotated_at AS presented_rotated_at
    FROM sessions s
    LEFT JOIN LATERAL (
        SELECT token_hash FROM refresh_tokens
        WHERE session_id = s.id AND rotated_at IS NULL ORDER BY issued_at DESC LIMIT 1
    ) current_token ON true
    LEFT JOIN refresh_tokens presented ON presented.token_hash = :presented AND presented.session_id = s.id
    WHERE s.id = COALESCE(
        CAST(:session_id AS uuid), (SELECT session_id FROM refresh_tokens WHERE token_hash = :presented)
    )
""")

_ADD_SESSION_WITH_TOKEN = text("""
    WITH created AS (
        INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, idle_timeout_seconds,
                              user_agent, ip, refresh_generation)
        VALUES (:id, :user_id, :created_at, :last_used_at, :expires_at, :idle_timeout_seconds,
                :user_agent, CAST(:ip AS inet), 0)
        RETURNING id, created_at
    )
    INSERT INTO refresh_tokens (token_hash, session_id, issued_at, generation)
    SELECT :token_hash, id, created_at, 0 FROM created
""")


# A login's writes in one statement, so one round trip and atomic on its own (no BEGIN/COMMIT). The user row is
# locked FOR NO KEY UPDATE as in PostgresUserRepository.lock, and under READ COMMITTED the lock re-checks the
# password hash against the newest row version: a password change or deletion that committed first matches no
# row, and then nothing is written.
_ADD_SESSION_AFTER_LOGIN = text("""
    WITH account AS (
        SELECT id FROM users WHERE id = CAST(:user_id AS uuid) AND password_hash = :password_hash
        FOR NO KEY UPDATE
    ), created AS (
        INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, idle_timeout_seconds,
                              user_agent, ip, refresh_generation)
        SELECT CAST(:id AS uuid), account.id, CAST(:created_at AS timestamptz),
               CAST(:last_used_at AS timestamptz), CAST(:expires_at AS timestamptz),
               CAST(:idle_timeout_seconds AS integer), CAST(:user_agent AS varchar), CAST(:ip AS inet), 0
        FROM account
        RETURNING id, user_id, created_at
    ), issued AS (
        INSERT INTO refresh_tokens (token_hash, session_id, issued_at, generation)
        SELECT CAST(:token_hash AS bytea), id, created_at, 0 FROM created
    ), audited AS (
        INSERT INTO audit_events (occurred_at, event_type, user_id, session_id, ip, user_agent, details)
        SELECT CAST(:occurred_at AS timestamptz), CAST(:event_type AS varchar), user_id, id,
               CAST(:audit_ip AS inet), CAST(:audit_user_agent AS varchar), CAST(:details AS jsonb)
        FROM created
    )
    SELECT count(*) FROM created
""")


def _audit_columns(event: AuditEvent) -> dict[str, Any]:
    return {
        "occurred_at": event.occurred_at,
        "event_type": event.type.value,
        "audit_ip": event.context.ip,
        "audit_user_agent": (event.context.user_agent or None) and event.context.user_agent[:_USER_AGENT_MAX],
        "details": json.dumps(event.details) if event.details is not None else None,
    }


# The device's owner, if the token is live. One indexed read (primary key, then the user's primary key).
_DEVICE_OWNER = text("""
    SELECT u.email_canonical FROM device_tokens d JOIN users u ON u.id = d.user_id
    WHERE d.token_hash = CAST(:token_hash AS bytea) AND d.expires_at > CAST(:now AS timestamptz)
""")

# Store the device (or move a known one's expiry on; a hash that is another account's is left alone), then forget
# the account's expired devices and all but its `keep` most recently used ones, in one statement. Selected from
# `users` so that an account deleted meanwhile gets no row (instead of a foreign-key error). Two logins of one
# account at once may each keep their own row: the cap is then exceeded by one until the next login.
_REMEMBER_DEVICE = text("""
    WITH stored AS (
        INSERT INTO device_tokens (token_hash, user_id, created_at, last_used_at, expires_at)
        SELECT CAST(:token_hash AS bytea), id, CAST(:created_at AS timestamptz), CAST(:now AS timestamptz),
               CAST(:expires_at AS timestamptz)
        FROM users WHERE id = CAST(:user_id AS uuid)
        ON CONFLICT (token_hash) DO UPDATE SET last_used_at = EXCLUDED.last_used_at, expires_at = EXCLUDED.expires_at
        WHERE device_tokens.user_id = EXCLUDED.user_id
        RETURNING token_hash
    ), forgotten AS (
        DELETE FROM device_tokens
        WHERE user_id = CAST(:user_id AS uuid) AND token_hash <> CAST(:token_hash AS bytea) AND (
            expires_at <= CAST(:now AS timestamptz) OR token_hash IN (
                SELECT token_hash FROM device_tokens
                WHERE user_id = CAST(:user_id AS uuid) AND token_hash <> CAST(:token_hash AS bytea)
                ORDER BY last_used_at DESC OFFSET CAST(:others AS integer)))
    )
    SELECT count(*) FROM stored
""")


_FOREIGN_KEY_VIOLATION = "23503"


class PostgresDeviceRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._db = connection

    async def owner(self, token_hash: bytes, now: datetime) -> str | None:
        row = (await self._db.execute(_DEVICE_OWNER, {"token_hash": token_hash, "now": now})).first()
        return str(row.email_canonical) if row else None

    async def remember(self, device: DeviceToken, now: datetime, keep: int) -> None:
        parameters = {
            "token_hash": device.token_hash,
            "user_id": device.user_id,
            "created_at": device.created_at,
            "now": now,
            "expires_at": device.expires_at,
            "others": max(0, keep - 1),
        }
        try:
            await self._db.execute(_REMEMBER_DEVICE, parameters)
        except IntegrityError as exc:
            # The statement saw the user, then a deletion committed before its foreign-key check did.
            if getattr(exc.orig, "sqlstate", None) == _FOREIGN_KEY_VIOLATION:
                raise AccountGone() from None
            raise


class PostgresAuditLog:
    def __init__(self, connection: AsyncConnection) -> None:
        self._db = connection

    async def record(self, event: AuditEvent) -> None:
        await self._db.execute(_INSERT_AUDIT_EVENT, _audit_row(event))

    async def record_all(self, events: Sequence[AuditEvent]) -> None:
        # One INSERT ... VALUES (...), (...): one statement and one round trip, whatever the number of rows
        # (at most THROTTLE_AUDIT_MAX_KEYS + 1, well inside PostgreSQL's 65,535 bind parameters).
        if events:
            await self._db.execute(insert(audit_events).values([_audit_row(event) for event in events]))


def _audit_row(event: AuditEvent) -> dict[str, Any]:
    return {
        "occurred_at": event.occurred_at,
        "event_type": event.type.value,
        "user_id": event.user_id,
        "session_id": event.session_id,
        "ip": event.context.ip,
        "user_agent": (event.context.user_agent or None) and event.context.user_agent[:_USER_AGENT_MAX],
        "details": event.details,
    }


def is_unavailability(exc: BaseException) -> bool:
    """Connection-level failures (server down, restarting, network) as opposed to bad statements."""
    if isinstance(exc, (OSError, TimeoutError, ConnectionError, PoolTimeout)):  # PoolTimeout: every connection busy
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        sqlstate = getattr(exc.orig, "sqlstate", None) or ""
        # 08: connection exception, 57P: operator intervention (shutdown), 53: insufficient resources
        return sqlstate.startswith(("08", "57P", "53")) or not sqlstate
    return False


class PostgresUnitOfWork:
    """One transaction on one pooled connection, committed only through `commit()`; or, with atomic=False,
    a connection on which every statement commits by itself."""

    users: UserRepository
    sessions: SessionRepository
    devices: DeviceRepository
    audit: AuditLog

    def __init__(self, engine: AsyncEngine, *, atomic: bool = True) -> None:
        if not atomic and engine.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._engine = engine
        self._atomic = atomic
        self._connection: AsyncConnection | None = None

    async def __aenter__(self) -> Self:
        try:
            self._connection = await self._engine.connect()
            if self._atomic:
                await self._connection.begin()
        except Exception as exc:
            await self._close()
            if is_unavailability(exc):
                raise DependencyUnavailable("postgresql") from exc
            raise
        self.users = PostgresUserRepository(self._connection)
        self.sessions = PostgresSessionRepository(self._connection)
        self.devices = PostgresDeviceRepository(self._connection)
        self.audit = PostgresAuditLog(self._connection)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            await self._close()
        except Exception:  # noqa: S110 - the connection is broken; the original error matters more
            pass
        if exc is not None and is_unavailability(exc):
            raise DependencyUnavailable("postgresql") from exc

    async def commit(self) -> None:
        assert self._connection is not None
        await self._connection.commit()

    async def _close(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            await connection.close()  # rolls back anything not committed


class PostgresUnitOfWorkFactory:
    """Makes Units of Work on one pool. The autocommit view of the engine is made once, not per checkout (setting
    the isolation level on each connection cost CPU on every hot-path request)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")

    def __call__(self, *, atomic: bool = True) -> PostgresUnitOfWork:
        return PostgresUnitOfWork(self._engine if atomic else self._autocommit, atomic=atomic)
