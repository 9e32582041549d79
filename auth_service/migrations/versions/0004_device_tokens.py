"""Known devices: one row per device token (its SHA-256 hash only), bound to an account.

Revision ID: 0004_device_tokens
Revises: 0003_session_lifecycle

A new, empty table: nothing to backfill, and the previous release never reads it, so tasks of both releases
run side by side during the rolling deployment (the old ones simply hand out no device tokens).
"""

from alembic import op

revision = "0004_device_tokens"
down_revision = "0003_session_lifecycle"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # IF NOT EXISTS, like 0003: re-applying it is harmless after the revision was stamped back by hand to roll back to
    # a release that predates it (docs/operations.md, "Session lifecycle (migration 0003)").
    op.execute(
        "CREATE TABLE IF NOT EXISTS device_tokens ("
        " token_hash BYTEA PRIMARY KEY,"
        " user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,"
        " created_at TIMESTAMP WITH TIME ZONE NOT NULL,"
        " last_used_at TIMESTAMP WITH TIME ZONE NOT NULL,"
        " expires_at TIMESTAMP WITH TIME ZONE NOT NULL)"
    )
    op.execute("CREATE INDEX IF NOT EXISTS ix_device_tokens_user_id ON device_tokens (user_id)")


def downgrade() -> None:
    op.drop_table("device_tokens")
