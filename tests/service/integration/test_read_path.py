"""GET /users/me reads the session state and the profile from Redis in one round trip (real Redis)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from redis.asyncio import Redis

from auth_service.adapters.redis.caches import RedisProfileCache, RedisSessionAndProfileCache, RedisSessionCache
from auth_service.adapters.redis.client import RedisGateway
from auth_service.application.ports import CachedSessionState
from auth_service.bootstrap import SystemClock
from auth_service.domain.model import Profile
from auth_service.settings import Settings
from tests.support.app import Service, bearer


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
        profile = Profile(id=user_id, email="a@example.com", display_name="A", bio=None, avatar_url=None,
                          created_at=now, updated_at=now)
        await sessions.store(session_id, state)
        await profiles.store(profile)
        assert await both.get(session_id, user_id) == (state, profile)
        await sessions.mark_revoked([session_id])
        assert await both.get(session_id, user_id) == ("revoked", profile)
    finally:
        await client.delete(sessions.key(session_id), profiles.key(user_id))
        await client.aclose()


async def test_a_warm_get_me_makes_one_redis_call(service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    user = await service.register()
    tokens = await service.login(user["email"])
    headers = bearer(tokens["access_token"])
    assert (await service.client.get("/users/me", headers=headers)).status_code == 200  # fills both caches
    gateway: RedisGateway = service.app.state.auth_service.deps.session_cache._redis
    calls = 0
    real_run = gateway.run

    async def counting_run(call: Callable[[Redis], Awaitable[Any]]) -> Any:
        nonlocal calls
        calls += 1
        return await real_run(call)

    monkeypatch.setattr(gateway, "run", counting_run)
    response = await service.client.get("/users/me", headers=headers)
    assert response.status_code == 200 and response.json()["email"] == user["email"]
    assert calls == 1
