"""Failed-login throttling: sliding one-hour windows per account and per client IP (sorted sets)."""

from __future__ import annotations

import math
import secrets

from redis.asyncio import Redis

from auth_service.adapters.redis.client import RedisGateway
from auth_service.application.ports import Clock, ThrottleDecision

WINDOW_SECONDS = 3600
MAX_BACKOFF_SECONDS = 900

# KEYS[1] account window, KEYS[2] ip window (may be ""); ARGV: now, window, account max, ip max,
# free failures before backoff, max backoff. Returns seconds to wait (0 = allowed).
_CHECK = """
local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local function retry_after(key, limit, free, max_backoff)
  if key == '' then return 0 end
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local count = redis.call('ZCARD', key)
  if count >= limit then
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    return tonumber(oldest[2]) + window - now
  end
  if free > 0 and count >= free then
    local newest = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
    local backoff = math.min(2 ^ (count - free), max_backoff)
    local wait = tonumber(newest[2]) + backoff - now
    if wait > 0 then return wait end
  end
  return 0
end
local account_wait = retry_after(KEYS[1], tonumber(ARGV[3]), tonumber(ARGV[5]), tonumber(ARGV[6]))
local ip_wait = retry_after(KEYS[2], tonumber(ARGV[4]), 0, 0)
return tostring(math.max(account_wait, ip_wait))
"""


class RedisLoginRateLimiter:
    def __init__(
        self, gateway: RedisGateway, clock: Clock, *, max_per_account: int, max_per_ip: int, free_failures: int
    ) -> None:
        self._redis = gateway
        self._clock = clock
        self._max_per_account = max_per_account
        self._max_per_ip = max_per_ip
        self._free_failures = free_failures
        self._check = gateway.client.register_script(_CHECK)

    def _keys(self, account_key: str, ip: str | None) -> list[str]:
        ip_key = self._redis.key("login-failures", "ip", ip) if ip else ""
        return [self._redis.key("login-failures", "account", account_key), ip_key]

    async def check(self, account_key: str, ip: str | None) -> ThrottleDecision:
        args = [self._clock.now().timestamp(), WINDOW_SECONDS, self._max_per_account, self._max_per_ip,
                self._free_failures, MAX_BACKOFF_SECONDS]
        keys = self._keys(account_key, ip)
        wait = float(await self._redis.run(lambda r: self._check(keys=keys, args=args)))
        if wait <= 0:
            return ThrottleDecision(allowed=True)
        return ThrottleDecision(allowed=False, retry_after_seconds=math.ceil(wait))

    async def record_failure(self, account_key: str, ip: str | None) -> None:
        now = self._clock.now().timestamp()
        member = f"{now:.6f}:{secrets.token_hex(4)}"

        async def write(r: Redis) -> None:
            async with r.pipeline(transaction=True) as pipe:
                for key in filter(None, self._keys(account_key, ip)):
                    pipe.zadd(key, {member: now})
                    pipe.expire(key, WINDOW_SECONDS)
                await pipe.execute()

        await self._redis.run(write)

    async def reset_account(self, account_key: str) -> None:
        key = self._keys(account_key, None)[0]
        await self._redis.run(lambda r: r.delete(key))
