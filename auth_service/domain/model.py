"""Entities: users and their sessions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from auth_service.domain.values import Email


@dataclass(frozen=True, slots=True)
class User:
    id: UUID
    email: Email
    display_name: str
    password_hash: str
    created_at: datetime
    updated_at: datetime
    bio: str | None = None
    avatar_url: str | None = None


@dataclass(frozen=True, slots=True)
class Profile:
    """What a user may see and edit about themselves (never the password hash)."""

    id: UUID
    email: str
    display_name: str
    bio: str | None
    avatar_url: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, user: User) -> Profile:
        return cls(
            id=user.id,
            email=user.email.value,
            display_name=user.display_name,
            bio=user.bio,
            avatar_url=user.avatar_url,
            created_at=user.created_at,
            updated_at=user.updated_at,
        )


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    absolute_lifetime: timedelta
    idle_timeout: timedelta


@dataclass(frozen=True, slots=True)
class Session:
    """A login. Lives until revoked, past its absolute lifetime, or idle for too long."""

    id: UUID
    user_id: UUID
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    idle_timeout: timedelta
    revoked_at: datetime | None = None
    user_agent: str | None = None
    ip: str | None = None

    @classmethod
    def start(
        cls,
        *,
        id: UUID,
        user_id: UUID,
        now: datetime,
        policy: SessionPolicy,
        user_agent: str | None,
        ip: str | None,
    ) -> Session:
        return cls(
            id=id,
            user_id=user_id,
            created_at=now,
            last_used_at=now,
            expires_at=now + policy.absolute_lifetime,
            idle_timeout=policy.idle_timeout,
            user_agent=user_agent,
            ip=ip,
        )

    @property
    def idle_expires_at(self) -> datetime:
        return min(self.expires_at, self.last_used_at + self.idle_timeout)

    def is_active(self, now: datetime) -> bool:
        return self.revoked_at is None and now < self.idle_expires_at
