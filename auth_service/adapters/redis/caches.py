"""Redis caches of session state and profiles. PostgreSQL stays the source of truth."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import UUID

from redis.asyncio import Redis

from auth_service.adapters.redis.client import RedisGateway
from auth_service.application.ports import CachedSession, CachedSessionState, Clock, Revoked
from auth_service.domain.model import Profile

_TOMBSTONE = "revoked"  # the stored value; Revoked.TOMBSTONE when read back


class RedisSessionCache:
    """`session:<id>` holds "<user id>|<active until, epoch s>" for a short time, or a revocation tombstone.

    Tombstones outlive every access token that could name the session (`tombstone_ttl` >= access token
    lifetime); positive entries are written with NX so they can never replace a tombstone.
    """

    def __init__(self, gateway: RedisGateway, clock: Clock, tombstone_ttl: int, positive_ttl: int = 60) -> None:
        self._redis = gateway
        self._clock = clock
        self._tombstone_ttl = tombstone_ttl
        self._positive_ttl = positive_ttl

    def key(self, session_id: UUID) -> str:
        return self._redis.key("session", str(session_id))

    async def get(self, session_id: UUID) -> CachedSession:
        return self.decode(await self._redis.run(lambda r: r.get(self.key(session_id))))

    @staticmethod
    def decode(value: str | bytes | None) -> CachedSession:
        if value is None:
            return None
        if value == _TOMBSTONE:
            return Revoked.TOMBSTONE
        user_id, _, active_until = str(value).partition("|")
        return CachedSessionState(UUID(user_id), datetime.fromtimestamp(float(active_until), UTC))

    async def store(self, session_id: UUID, state: CachedSessionState) -> None:
        remaining = int((state.active_until - self._clock.now()).total_seconds())
        ttl = min(self._positive_ttl, remaining)
        if ttl <= 0:
            return
        value = f"{state.user_id}|{state.active_until.timestamp()}"
        key = self._redis.key("session", str(session_id))
        await self._redis.run(lambda r: r.set(key, value, ex=ttl, nx=True))

    async def mark_revoked(self, session_ids: Sequence[UUID]) -> None:
        async def write(r: Redis) -> None:
            async with r.pipeline(transaction=False) as pipe:
                for session_id in session_ids:
                    pipe.set(self._redis.key("session", str(session_id)), _TOMBSTONE, ex=self._tombstone_ttl)
                await pipe.execute()

        await self._redis.run(write)


class RedisProfileCache:
    def __init__(self, gateway: RedisGateway, ttl: int = 60) -> None:
        self._redis = gateway
        self._ttl = ttl

    def key(self, user_id: UUID) -> str:
        return self._redis.key("profile", str(user_id))

    async def get(self, user_id: UUID) -> Profile | None:
        return self.decode(await self._redis.run(lambda r: r.get(self.key(user_id))))

    @staticmethod
    def decode(raw: str | bytes | None) -> Profile | None:
        if raw is None:
            return None
        data = json.loads(raw)
        return Profile(
            id=UUID(data["id"]),
            email=data["email"],
            display_name=data["display_name"],
            bio=data["bio"],
            avatar_url=data["avatar_url"],
            created_at=datetime.fromisoformat(data["created_at"]),
            updated_at=datetime.fromisoformat(data["updated_at"]),
        )

    async def store(self, profile: Profile) -> None:
        data = {
            "id": str(profile.id),
            "email": profile.email,
            "display_name": profile.display_name,
            "bio": profile.bio,
            "avatar_url": profile.avatar_url,
            "created_at": profile.created_at.isoformat(),
            "updated_at": profile.updated_at.isoformat(),
        }
        key = self._redis.key("profile", str(profile.id))
        await self._redis.run(lambda r: r.set(key, json.dumps(data), ex=self._ttl))

    async def forget(self, user_id: UUID) -> None:
        await self._redis.run(lambda r: r.delete(self._redis.key("profile", str(user_id))))


class RedisSessionAndProfileCache:
    """Both entries with one MGET (the deployment's Redis is a single shard, so any two keys can go together)."""

    def __init__(self, gateway: RedisGateway, sessions: RedisSessionCache, profiles: RedisProfileCache) -> None:
        self._redis = gateway
        self._sessions = sessions
        self._profiles = profiles

    async def get(self, session_id: UUID, user_id: UUID) -> tuple[CachedSession, Profile | None]:
        keys = [self._sessions.key(session_id), self._profiles.key(user_id)]
        session_value, profile_value = await self._redis.run(lambda r: r.mget(keys))
        return self._sessions.decode(session_value), self._profiles.decode(profile_value)
