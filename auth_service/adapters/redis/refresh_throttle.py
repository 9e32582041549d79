"""Refreshes per session, a token bucket in Redis: `per_minute` tokens refill evenly over a minute, up to
`per_minute` saved; one refresh takes one. Its own small adapter, apart from the password-guess limiter."""

from __future__ import annotations

import math
from uuid import UUID

from auth_service.adapters.redis.client import RedisGateway
from auth_service.application.ports import Clock, RetryAfter

# KEYS[1]: the bucket (a hash: tokens, at). ARGV: now (s), capacity, refill per second.
# Returns "0" if a token was taken, else the seconds until one is there.
_TAKE = """
local now, capacity, rate = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(state[1]), tonumber(state[2])
if tokens == nil or at == nil then tokens, at = capacity, now end
tokens = math.min(capacity, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(capacity / rate) + 1)
return tostring(wait)
"""


class RedisRefreshThrottle:
    def __init__(self, gateway: RedisGateway, clock: Clock, per_minute: int) -> None:
        self._gateway = gateway
        self._clock = clock
        self._capacity = per_minute
        self._rate = per_minute / 60.0
        self._take = gateway.client.register_script(_TAKE)

    async def admit(self, session_id: UUID) -> RetryAfter | None:
        key = self._gateway.key("refresh", str(session_id))
        args = [self._clock.now().timestamp(), self._capacity, self._rate]
        wait = float(await self._gateway.run(lambda _: self._take(keys=[key], args=args)))
        return RetryAfter(max(1, math.ceil(wait))) if wait > 0 else None
