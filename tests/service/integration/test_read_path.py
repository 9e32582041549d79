"""GET /users/me reads the session state and the profile from Redis in one round trip (real Redis)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from redis.asyncio import Redis

from auth_service.adapters.redis.caches import RedisProfileCache, RedisSessionAndProfileCache, RedisSessionCache
from auth_service.adapters.redis.client import RedisGateway, create_redis
from auth_service.application.ports import CachedSessionState, Revoked
from auth_service.bootstrap import SystemClock
from auth_service.domain.model import Profile
from auth_service.settings import Settings
from tests.support.app import bearer, serving


async def test_session_state_and_profile_come_back_together_and_a_tombstone_still_wins(settings: Settings) -> None:
    client = Redis.from_url(settings.redis_url, decode_responses=True)
    gateway = RedisGateway(client, settings.redis_key_prefix)
    sessions = RedisSessionCache(gateway, SystemClock(), tombstone_ttl=60)
    profiles = RedisProfileCache(gateway)
    both = RedisSessionAndProfileCache(gateway, sessions, profiles)
    now = datetime.now(UTC).replace(microsecond=0)
    session_id, user_id = uuid4(), uuid4()
    try:
        assert await both.get(session_id, user_id) == (None, None)
        state = CachedSessionState(user_id, now + timedelta(minutes=30))
        profile = Profile(
            id=user_id,
            email="a@example.com",
            display_name="A",
            bio=None,
            avatar_url=None,
            created_at=now,
            updated_at=now,
        )
        await sessions.store(session_id, state)
        await profiles.store(profile)
        assert await both.get(session_id, user_id) == (state, profile)
        await sessions.mark_revoked([session_id])
        assert await both.get(session_id, user_id) == (Revoked.TOMBSTONE, profile)
    finally:
        await client.delete(sessions.key(session_id), profiles.key(user_id))
        await client.aclose()


async def test_a_warm_get_me_makes_one_redis_call(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    client = create_redis(settings.redis_url, None)  # the app's Redis connection, handed over and owned here
    commands: list[str] = []
    send: Callable[..., Awaitable[Any]] = client.execute_command

    async def counting(*args: Any, **options: Any) -> Any:
        commands.append(str(args[0]))
        return await send(*args, **options)

    try:
        async with serving(settings, redis=client) as service:
            user = await service.register()
            tokens = await service.login(user["email"])
            headers = bearer(tokens["access_token"])
            assert (await service.client.get("/users/me", headers=headers)).status_code == 200  # fills both caches
            monkeypatch.setattr(client, "execute_command", counting)
            response = await service.client.get("/users/me", headers=headers)
        assert response.status_code == 200 and response.json()["email"] == user["email"]
        assert commands == ["MGET"]
    finally:
        await client.aclose()
