"""Seed many accounts fast: one argon2id hash (the service's own hasher settings) shared by every seeded user,
written through the service's own repository, so thousands of attendees take seconds, not an hour of hashing."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

from sqlalchemy.ext.asyncio import AsyncEngine

from auth_service.adapters.postgres.repositories import PostgresUnitOfWork
from auth_service.adapters.security.hashing import make_context
from auth_service.domain.model import User
from auth_service.domain.values import Email

BATCH = 500


async def seed_users(engine: AsyncEngine, emails: list[str], password: str) -> list[str]:
    """Create one account per email, all with `password`; returns the emails."""
    password_hash = make_context().hash(password)
    now = datetime.now(UTC)
    for start in range(0, len(emails), BATCH):
        async with PostgresUnitOfWork(engine) as uow:
            for number, email in enumerate(emails[start : start + BATCH], start):
                await uow.users.add(
                    User(
                        id=uuid4(),
                        email=Email(email),
                        display_name=f"Attendee {number}",
                        password_hash=password_hash,
                        created_at=now,
                        updated_at=now,
                    )
                )
            await uow.commit()
    return emails
