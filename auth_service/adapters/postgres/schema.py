"""Table definitions (SQLAlchemy Core). Alembic migrations create them; keep the two in step."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import INET, JSONB, UUID

metadata = MetaData()

users = Table(
    "users",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("email", String(254), nullable=False),  # as typed, shown back to the user
    Column("email_canonical", Text, nullable=False),  # the identity (domain.values.Email.canonical)
    Column("display_name", String(64), nullable=False),
    Column("bio", Text, nullable=True),
    Column("avatar_url", Text, nullable=True),
    Column("password_hash", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
# Uniqueness of the canonical address is the database's job, so concurrent registrations cannot both win.
Index("uq_users_email_canonical", users.c.email_canonical, unique=True)

sessions = Table(
    "sessions",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("user_id", UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_used_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("idle_timeout_seconds", Integer, nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Column("revoked_reason", String(32), nullable=True),
    Column("user_agent", String(512), nullable=True),
    Column("ip", INET, nullable=True),
    # The current refresh token's generation and when it replaced its predecessor (NULL: a session from before
    # generations, until its first rotation).
    Column("refresh_generation", BigInteger, nullable=True),
    Column("refresh_rotated_at", DateTime(timezone=True), nullable=True),
    # Refreshes left at refresh_rotated_at: the per-session throttle's token bucket (RefreshBudget).
    Column("refresh_allowance", Float, nullable=True),
)
# Active sessions of a user, newest first: the session list's pages and the session cap.
Index(
    "ix_sessions_user_active",
    sessions.c.user_id,
    sessions.c.created_at,
    sessions.c.id,
    postgresql_where=sessions.c.revoked_at.is_(None),
)
Index("ix_sessions_expires_at", sessions.c.expires_at)  # the retention purge

# One row per session: its current token, replaced in place on rotation. Tokens issued before generations keep
# their rotated rows (generation NULL) for reuse detection until the session is purged.
refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("token_hash", LargeBinary(32), primary_key=True),
    Column("session_id", UUID(as_uuid=True), ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("issued_at", DateTime(timezone=True), nullable=False),
    Column("rotated_at", DateTime(timezone=True), nullable=True),
    Column("generation", BigInteger, nullable=True),
)

# Known devices (auth_service/application/devices.py): at most DEVICE_TOKENS_PER_ACCOUNT per account, each forgotten
# DEVICE_TOKEN_TTL_SECONDS after its last login; they go with the account.
device_tokens = Table(
    "device_tokens",
    metadata,
    Column("token_hash", LargeBinary(32), primary_key=True),
    Column("user_id", UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_used_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("occurred_at", DateTime(timezone=True), nullable=False, index=True),
    Column("event_type", String(32), nullable=False),
    Column("user_id", UUID(as_uuid=True), nullable=True, index=True),  # no FK: survives account deletion
    Column("session_id", UUID(as_uuid=True), nullable=True),
    Column("ip", INET, nullable=True),
    Column("user_agent", String(512), nullable=True),
    Column("details", JSONB, nullable=True),
)
