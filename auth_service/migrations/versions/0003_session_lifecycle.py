"""Session lifecycle: refresh-token generations, the indexes of the session list, the cap and the purge.

Revision ID: 0003_session_lifecycle
Revises: 0002_canonical_email

Expand only: nullable columns and new indexes, nothing dropped or rewritten, so the previous release keeps
working against this schema while a rolling deploy runs both:
- sessions.refresh_generation / refresh_rotated_at / refresh_allowance: the current refresh token's generation,
  when it replaced its predecessor, and the refreshes left then (the per-session throttle's token bucket);
  NULL for sessions the previous release opened, until their first rotation here;
- refresh_tokens.generation: NULL on rows the previous release writes (random tokens, reuse detected by their
  rotated rows), set on rows this release writes (one per session, replaced in place on rotation).
The indexes are built without CONCURRENTLY (a migration runs in a transaction): on tables of this service's
size that locks writes to `sessions` for well under a second.
"""

from alembic import op

revision = "0003_session_lifecycle"
down_revision = "0002_canonical_email"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # IF NOT EXISTS: re-applying it is harmless, should the revision have been stamped back by hand to roll back
    # to a release that predates it (docs/operations.md, "Session lifecycle (migration 0003)").
    for statement in (
        "ALTER TABLE sessions ADD COLUMN IF NOT EXISTS refresh_generation BIGINT",
        "ALTER TABLE sessions ADD COLUMN IF NOT EXISTS refresh_rotated_at TIMESTAMP WITH TIME ZONE",
        "ALTER TABLE sessions ADD COLUMN IF NOT EXISTS refresh_allowance DOUBLE PRECISION",
        "ALTER TABLE refresh_tokens ADD COLUMN IF NOT EXISTS generation BIGINT",
        "CREATE INDEX IF NOT EXISTS ix_sessions_user_active ON sessions (user_id, created_at, id) "
        "WHERE revoked_at IS NULL",
        "CREATE INDEX IF NOT EXISTS ix_sessions_expires_at ON sessions (expires_at)",
    ):
        op.execute(statement)


def downgrade() -> None:
    op.drop_index("ix_sessions_expires_at", table_name="sessions")
    op.drop_index("ix_sessions_user_active", table_name="sessions")
    op.drop_column("refresh_tokens", "generation")
    op.drop_column("sessions", "refresh_allowance")
    op.drop_column("sessions", "refresh_rotated_at")
    op.drop_column("sessions", "refresh_generation")
