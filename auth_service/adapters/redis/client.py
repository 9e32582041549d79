"""Redis connection and the failure handling every Redis adapter shares."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from auth_service.application.errors import DependencyUnavailable

T = TypeVar("T")


class PoolExhausted(RedisConnectionError):
    """Every pooled connection stayed busy for the whole wait: this process is saturated, Redis is fine."""


class _WaitingConnectionPool(BlockingConnectionPool):
    """Waits up to `timeout` for a free connection (a burst queues for milliseconds instead of failing), and
    tells an exhausted pool apart from an unreachable server."""

    async def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().get_connection(*args, **kwargs)  # type: ignore[no-untyped-call]
        except RedisConnectionError as exc:
            if isinstance(exc.__cause__, TimeoutError):
                raise PoolExhausted("no free Redis connection") from exc
            raise


def create_redis(
    url: str, auth_token: str | None, timeout: float = 0.5, max_connections: int = 64, pool_wait: float = 2.0
) -> Redis:
    """A client that fails fast: one retry, sub-second timeouts, so an outage costs milliseconds, not seconds.

    Past `max_connections` busy connections a request waits up to `pool_wait` for one to come free: in a burst
    the event loop itself is the queue, and connections are held longer than the commands take."""
    options: dict[str, object] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "health_check_interval": 15,
        "retry": Retry(NoBackoff(), retries=1),
        "max_connections": max_connections,
        "timeout": pool_wait,
        "decode_responses": True,
    }
    if auth_token:
        options["password"] = auth_token
    return Redis.from_pool(_WaitingConnectionPool.from_url(url, **options))


class RedisGateway:
    """Runs Redis calls, turning failures into DependencyUnavailable.

    After a failure it stops calling Redis for `cooldown` seconds (a tiny circuit breaker), so while Redis
    is down each request fails over at once instead of waiting for a connect timeout.
    """

    def __init__(self, client: Redis, key_prefix: str, cooldown: float = 1.0) -> None:
        self.client = client
        self._prefix = key_prefix
        self._cooldown = cooldown
        self._open_until = 0.0

    def key(self, *parts: str) -> str:
        return self._prefix + ":".join(parts)

    async def run(self, call: Callable[[Redis], Awaitable[T]]) -> T:
        if time.monotonic() < self._open_until:
            raise DependencyUnavailable("redis")
        try:
            return await call(self.client)
        except PoolExhausted as exc:
            raise DependencyUnavailable("redis") from exc  # a saturated pool is no reason to stop calling Redis
        except (RedisError, OSError, TimeoutError) as exc:
            self._open_until = time.monotonic() + self._cooldown
            raise DependencyUnavailable("redis") from exc

    async def ping(self) -> None:
        # Readiness must see the truth, so it bypasses the breaker.
        try:
            await self.client.ping()
        except (RedisError, OSError, TimeoutError) as exc:
            raise DependencyUnavailable("redis") from exc
        self._open_until = 0.0
