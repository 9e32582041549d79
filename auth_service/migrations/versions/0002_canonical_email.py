"""Canonical email: the identity column that carries the unique index, replacing lower(email).

Revision ID: 0002_canonical_email
Revises: 0001_initial

Every existing row gets `email_canonical` computed by the domain (`Email(email).canonical`), in the same
transaction that adds the column, so the table is locked from the backfill to the new index. If two existing
rows are one identity under the new rule (e.g. `straße@x` and `STRASSE@x`, distinct under lower() but one
address under Unicode case folding), or a stored address no longer parses, the migration stops with the ids
and changes nothing: which account keeps the address is a decision for a person (docs/operations.md).
The rule itself is the domain's, imported here; if it ever changes, a new migration recomputes the column.
"""

from collections import defaultdict
from collections.abc import Sequence
from uuid import UUID

import sqlalchemy as sa
from alembic import op

from auth_service.domain.errors import InvalidEmail
from auth_service.domain.values import Email

revision = "0002_canonical_email"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


class CanonicalEmailConflict(RuntimeError):
    pass


def _canonical_addresses(rows: Sequence[tuple[UUID, str]]) -> dict[UUID, str]:
    canonical: dict[UUID, str] = {}
    unparseable: list[str] = []
    holders: defaultdict[str, list[str]] = defaultdict(list)
    for user_id, email in rows:
        try:
            canonical[user_id] = Email(email).canonical
        except InvalidEmail:
            unparseable.append(str(user_id))
            continue
        holders[canonical[user_id]].append(str(user_id))
    collisions = [ids for ids in holders.values() if len(ids) > 1]
    if unparseable or collisions:
        raise CanonicalEmailConflict(
            "users.email_canonical cannot be backfilled; nothing was changed. "
            f"Rows sharing one canonical address (oldest first): {collisions}. "
            f"Rows whose address no longer parses: {unparseable}. "
            "Resolve them by hand (docs/operations.md, 'Canonical email conflicts'), then start again."
        )
    return canonical


def upgrade() -> None:
    op.add_column("users", sa.Column("email_canonical", sa.Text, nullable=True))
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, email FROM users ORDER BY created_at, id")).all()
    canonical = _canonical_addresses([(row.id, row.email) for row in rows])
    if canonical:
        bind.execute(
            sa.text("UPDATE users SET email_canonical = :canonical WHERE id = :id"),
            [{"id": user_id, "canonical": value} for user_id, value in canonical.items()],
        )
    op.alter_column("users", "email_canonical", nullable=False)
    op.create_index("uq_users_email_canonical", "users", ["email_canonical"], unique=True)
    op.drop_index("uq_users_email_lower", table_name="users")


def downgrade() -> None:
    op.create_index("uq_users_email_lower", "users", [sa.text("lower(email)")], unique=True)
    op.drop_index("uq_users_email_canonical", table_name="users")
    op.drop_column("users", "email_canonical")
