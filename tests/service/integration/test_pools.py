"""Connection pools under a burst: waiting for a connection is not an outage, and running out of them is
unavailability (503), never an internal error, and never opens the Redis circuit breaker."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from redis.asyncio import Redis

from auth_service.adapters.postgres.database import create_engine
from auth_service.adapters.postgres.repositories import PostgresUnitOfWork
from auth_service.adapters.redis.client import RedisGateway, create_redis
from auth_service.application.errors import DependencyUnavailable
from auth_service.settings import Settings
from tests.support.servers import free_port


async def test_a_burst_over_the_redis_pool_size_waits_for_connections(redis_base_url: str, redis_prefix: str) -> None:
    client = create_redis(redis_base_url, None, max_connections=2)
    gateway = RedisGateway(client, redis_prefix)
    key = gateway.key("pool-burst", uuid.uuid4().hex)
    try:
        results = await asyncio.gather(
            *(gateway.run(lambda r: r.incr(key)) for _ in range(100)), return_exceptions=True
        )
        assert not [r for r in results if isinstance(r, BaseException)], results[:3]
        assert sorted(results) == list(range(1, 101))  # type: ignore[type-var]
        await gateway.run(lambda r: r.delete(key))
    finally:
        await client.aclose()


async def test_an_exhausted_redis_pool_is_unavailable_but_does_not_open_the_breaker(
    redis_base_url: str, redis_prefix: str
) -> None:
    client = create_redis(redis_base_url, None, max_connections=1, pool_wait=0.2)
    gateway = RedisGateway(client, redis_prefix, cooldown=3600)  # an opened breaker would outlive the test
    held = await client.connection_pool.get_connection()  # type: ignore[no-untyped-call]  # unannotated in redis-py
    try:
        with pytest.raises(DependencyUnavailable):
            await gateway.run(lambda r: r.ping())
    finally:
        await client.connection_pool.release(held)
    try:
        assert await gateway.run(lambda r: r.ping())
    finally:
        await client.aclose()


async def test_a_database_pool_timeout_is_unavailability_not_an_error(database_url: str) -> None:
    engine = create_engine(
        Settings(database_url=database_url).sqlalchemy_url(), sslmode="prefer", pool_size=1, connect_timeout=0.2
    )
    held = [await engine.connect() for _ in range(2)]  # the pool and its overflow
    try:
        with pytest.raises(DependencyUnavailable):
            async with PostgresUnitOfWork(engine):
                pass
    finally:
        for connection in held:
            await connection.close()
        await engine.dispose()


async def test_an_unreachable_redis_still_opens_the_breaker(redis_prefix: str) -> None:
    client = create_redis(f"redis://127.0.0.1:{free_port()}/0", None)  # nothing listens there
    gateway = RedisGateway(client, redis_prefix, cooldown=3600)
    calls = 0

    async def ping(redis: Redis) -> bool:
        nonlocal calls
        calls += 1
        return bool(await redis.ping())

    try:
        for _ in range(2):
            with pytest.raises(DependencyUnavailable):
                await gateway.run(ping)
    finally:
        await client.aclose()
    assert calls == 1  # the second request failed at once, without trying Redis
