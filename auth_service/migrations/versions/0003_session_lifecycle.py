"""Session lifecycle: refresh-token generations, the indexes of the session list, the cap and the purge.

Revision ID: 0003_session_lifecycle
Revises: 0002_canonical_email

Expand only: nullable columns and new indexes, nothing dropped or rewritten, so the previous release keeps
working against this schema while a rolling deploy runs both:
- sessions.refresh_generation / refresh_rotated_at: the current refresh token's generation and when it
  replaced its predecessor (NULL for sessions the previous release opened, until their first rotation here);
- refresh_tokens.generation: NULL on rows the previous release writes (random tokens, reuse detected by their
  rotated rows), set on rows this release writes (one per session, replaced in place on rotation).
The indexes are built without CONCURRENTLY (a migration runs in a transaction): on tables of this service's
size that locks writes to `sessions` for well under a second.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_session_lifecycle"
down_revision = "0002_canonical_email"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("sessions", sa.Column("refresh_generation", sa.BigInteger, nullable=True))
    op.add_column("sessions", sa.Column("refresh_rotated_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("refresh_tokens", sa.Column("generation", sa.BigInteger, nullable=True))
    op.create_index(
        "ix_sessions_user_active",
        "sessions",
        ["user_id", "created_at", "id"],
        postgresql_where=sa.text("revoked_at IS NULL"),
    )
    op.create_index("ix_sessions_expires_at", "sessions", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_sessions_expires_at", table_name="sessions")
    op.drop_index("ix_sessions_user_active", table_name="sessions")
    op.drop_column("refresh_tokens", "generation")
    op.drop_column("sessions", "refresh_rotated_at")
    op.drop_column("sessions", "refresh_generation")
