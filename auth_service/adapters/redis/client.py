"""Redis connection and the failure handling every Redis adapter shares."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from auth_service.application.errors import DependencyUnavailable

T = TypeVar("T")


def create_redis(url: str, auth_token: str | None, timeout: float = 0.5, max_connections: int = 64) -> Redis:
    """A client that fails fast: one retry, sub-second timeouts, so an outage costs milliseconds, not seconds."""
    options: dict[str, object] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "health_check_interval": 15,
        "retry": Retry(NoBackoff(), retries=1),
        "max_connections": max_connections,
        "decode_responses": True,
    }
    if auth_token:
        options["password"] = auth_token
    return Redis.from_url(url, **options)  # type: ignore[arg-type]


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
