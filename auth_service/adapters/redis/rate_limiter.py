"""Throttles in Redis: sliding one-hour windows (sorted sets scored by time) that count password guesses still
in flight, so a burst of concurrent requests sees the guesses ahead of it.

A guess is reserved in the same script that checks the limits (one atomic step), and settled when its outcome
is known: a wrong password turns the reservation into a recorded failure, a right one releases it and clears
the account's failures, an error releases it. A worker that dies leaves the reservation behind, and it expires
after `RESERVATION_SECONDS`.

Scopes of a guess: the account (a hard cap, ASVS 2.2.1), the account from this source (exponential backoff, so
a stranger's failures slow the stranger, not the account's owner elsewhere), and the source across accounts
(password spraying). Login attempts and registrations are also counted per source, whatever their outcome.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from redis.asyncio import Redis

from auth_service.adapters.redis.client import RedisGateway
from auth_service.application.ports import Clock, GuessTicket, RetryAfter

WINDOW_SECONDS = 3600
MAX_BACKOFF_SECONDS = 900
# Longer than any guess can take (the hashing queue is bounded, the load balancer gives up after 60 s).
RESERVATION_SECONDS = 120

# KEYS: per guess scope a failures set and an in-flight set, then one set per attempt counter.
# ARGV: now, window, reservation seconds, ticket id, scope count, counter count,
#       per scope: limit, free failures before backoff (0: none), max backoff; per counter: limit.
# Returns the seconds to wait as a string; "0" means every limit passed and the attempt is now counted.
_RESERVE = """
local now, window, hold = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local id, scopes, counters = ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6])

local function newest_score(key)
  local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  if last[2] then return tonumber(last[2]) end
  return nil
end

local function scope_wait(failures, in_flight, limit, free, max_backoff)
  redis.call('ZREMRANGEBYSCORE', failures, '-inf', now - window)
  redis.call('ZREMRANGEBYSCORE', in_flight, '-inf', now)
  local failed = redis.call('ZCARD', failures)
  local count = failed + redis.call('ZCARD', in_flight)
  if count >= limit then
    if failed >= limit then
      local oldest = redis.call('ZRANGE', failures, 0, 0, 'WITHSCORES')
      return tonumber(oldest[2]) + window - now
    end
    return 1  -- guesses in flight settle within seconds
  end
  if free > 0 and count >= free then
    -- A guess in flight counts as a failure made when it started (its score is its expiry).
    local latest = newest_score(failures) or -math.huge
    local started = newest_score(in_flight)
    if started then latest = math.max(latest, started - hold) end
    local wait = latest + math.min(2 ^ (count - free), max_backoff) - now
    if wait > 0 then return wait end
  end
  return 0
end

local function counter_wait(key, limit)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  if redis.call('ZCARD', key) >= limit then
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    return tonumber(oldest[2]) + window - now
  end
  return 0
end

local wait = 0
for i = 1, scopes do
  local arg = 6 + (i - 1) * 3
  wait = math.max(wait, scope_wait(KEYS[2 * i - 1], KEYS[2 * i], tonumber(ARGV[arg + 1]),
                                   tonumber(ARGV[arg + 2]), tonumber(ARGV[arg + 3])))
end
for j = 1, counters do
  wait = math.max(wait, counter_wait(KEYS[2 * scopes + j], tonumber(ARGV[6 + 3 * scopes + j])))
end
if wait > 0 then return tostring(wait) end
for i = 1, scopes do
  redis.call('ZADD', KEYS[2 * i], now + hold, id)
  redis.call('EXPIRE', KEYS[2 * i], hold)
end
for j = 1, counters do
  redis.call('ZADD', KEYS[2 * scopes + j], now, id)
  redis.call('EXPIRE', KEYS[2 * scopes + j], window)
end
return '0'
"""


@dataclass(frozen=True, slots=True)
class _Scope:
    failures: str
    limit: int
    free: int = 0  # failures before exponential backoff; 0 = a hard limit only
    clears_on_success: bool = False

    @property
    def in_flight(self) -> str:
        return self.failures + ":in-flight"


@dataclass(frozen=True, slots=True)
class _Counter:
    key: str
    limit: int


@dataclass(frozen=True, slots=True)
class RateLimits:
    max_failures_per_account: int
    free_failures_per_source: int
    max_failures_per_source: int
    max_login_attempts_per_source: int
    max_registrations_per_source: int


class RedisRateLimiter:
    def __init__(self, gateway: RedisGateway, clock: Clock, limits: RateLimits) -> None:
        self._redis = gateway
        self._clock = clock
        self._limits = limits
        self._reserve = gateway.client.register_script(_RESERVE)

    async def reserve_guess(self, account_key: str, source: str | None, *, login: bool) -> GuessTicket | RetryAfter:
        ticket = GuessTicket(id=secrets.token_hex(8), account_key=account_key, source=source)
        counters = (
            [_Counter(self._redis.key("login-attempts", "source", source), self._limits.max_login_attempts_per_source)]
            if login and source
            else []
        )
        throttled = await self._run_reserve(ticket.id, self._scopes(ticket), counters)
        return throttled or ticket

    async def record_failed_guess(self, ticket: GuessTicket) -> None:
        await self._settle(ticket, failed_at=self._clock.now().timestamp())

    async def record_correct_guess(self, ticket: GuessTicket) -> None:
        await self._settle(ticket, clear_failures=True)

    async def release_guess(self, ticket: GuessTicket) -> None:
        await self._settle(ticket)

    async def _settle(
        self, ticket: GuessTicket, *, failed_at: float | None = None, clear_failures: bool = False
    ) -> None:
        """Take the guess out of every in-flight set, in one transaction; a failed guess is recorded as a failure,
        a correct one clears the failures of the scopes that forget them on success."""

        async def settle(r: Redis) -> None:
            async with r.pipeline(transaction=True) as pipe:
                for scope in self._scopes(ticket):
                    pipe.zrem(scope.in_flight, ticket.id)
                    if failed_at is not None:
                        pipe.zadd(scope.failures, {ticket.id: failed_at})
                        pipe.expire(scope.failures, WINDOW_SECONDS)
                    if clear_failures and scope.clears_on_success:
                        pipe.delete(scope.failures)
                await pipe.execute()

        await self._redis.run(settle)

    async def admit_registration(self, source: str | None) -> RetryAfter | None:
        if not source:
            return None
        counter = _Counter(
            self._redis.key("registrations", "source", source), self._limits.max_registrations_per_source
        )
        return await self._run_reserve(secrets.token_hex(8), [], [counter])

    def _scopes(self, ticket: GuessTicket) -> list[_Scope]:
        limits, key = self._limits, self._redis.key
        scopes = [
            _Scope(
                key("guesses", "account", ticket.account_key), limits.max_failures_per_account, clears_on_success=True
            ),
            _Scope(
                key("guesses", "account-source", ticket.account_key, ticket.source or "unknown"),
                limits.max_failures_per_account,
                free=limits.free_failures_per_source,
                clears_on_success=True,
            ),
        ]
        if ticket.source:
            scopes.append(_Scope(key("guesses", "source", ticket.source), limits.max_failures_per_source))
        return scopes

    async def _run_reserve(
        self, attempt_id: str, scopes: Sequence[_Scope], counters: Sequence[_Counter]
    ) -> RetryAfter | None:
        keys = [k for scope in scopes for k in (scope.failures, scope.in_flight)] + [c.key for c in counters]
        args: list[float | int | str] = [
            self._clock.now().timestamp(),
            WINDOW_SECONDS,
            RESERVATION_SECONDS,
            attempt_id,
            len(scopes),
            len(counters),
        ]
        for scope in scopes:
            args += [scope.limit, scope.free, MAX_BACKOFF_SECONDS]
        args += [c.limit for c in counters]
        wait = float(await self._redis.run(lambda r: self._reserve(keys=keys, args=args)))
        return RetryAfter(seconds=math.ceil(wait)) if wait > 0 else None
