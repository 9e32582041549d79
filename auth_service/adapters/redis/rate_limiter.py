"""Throttles in Redis. Password guesses are counted in sliding one-hour windows (sorted sets scored by time) that
include the guesses still in flight, so a burst of concurrent requests sees the guesses ahead of it; per-address
and per-device counters are token buckets, which heal continuously instead of staying shut for an hour.

A guess is reserved in the same script that checks the limits (one atomic step), and settled when its outcome
is known: a wrong password turns the reservation into a recorded failure, a right one releases it and clears
its scope's failures, an error releases it. A worker that dies leaves the reservation behind, and it expires
after `RESERVATION_SECONDS`.

Who a guess counts against (docs/operations.md, "Throttling rules"):
- from a known device of the account (a valid device token, or the signed-in session when re-authenticating):
  that device's own failures (backoff, hourly cap) and, for logins, the device's login attempts. Nothing a
  stranger does touches these.
- from an unknown device: the account's failures from unknown devices, shared by every stranger (backoff, hourly
  cap), and the client address's buckets: wrong passwords (a guess takes a token while in flight and gives it
  back if the password was right) and login attempts. A shared egress address (the venue NAT) has larger buckets.
Registrations are counted per address in a bucket of their own.
"""

from __future__ import annotations

import ipaddress
import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field

from redis.asyncio import Redis

from auth_service.adapters.redis.client import RedisGateway
from auth_service.application.ports import Clock, GuessTicket, RetryAfter

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

WINDOW_SECONDS = 3600
MAX_BACKOFF_SECONDS = 900
# Longer than any guess can take (the hashing queue is bounded, the load balancer gives up after 60 s).
RESERVATION_SECONDS = 120

_LUA_COMMON = """
local now = tonumber(ARGV[1])

local function newest_score(key)
  local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  if last[2] then return tonumber(last[2]) end
  return nil
end

local function bucket_level(key, capacity, rate)
  local state = redis.call('HMGET', key, 'tokens', 'at')
  local tokens, at = tonumber(state[1]), tonumber(state[2])
  if not tokens then return capacity end
  return math.min(capacity, tokens + math.max(0, now - at) * rate)
end

local function bucket_store(key, level, capacity, rate)
  redis.call('HSET', key, 'tokens', level, 'at', now)
  redis.call('EXPIRE', key, math.ceil(capacity / rate) + 60)  -- full again by then: nothing left to remember
end
"""

# KEYS: per scope a failures set and an in-flight set, then one hash per bucket.
# ARGV: now, window, reservation seconds, ticket id, scope count, bucket count,
#       per scope: limit, free failures before backoff (0: none), max backoff; per bucket: capacity, tokens/second.
# Returns "<seconds to wait> <1-based index of the limit that decided it>"; "0 0": every limit passed, the guess is
# reserved in every scope and a token taken from every bucket.
_RESERVE = (
    _LUA_COMMON
    + """
local window, hold = tonumber(ARGV[2]), tonumber(ARGV[3])
local id, scopes, buckets = ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6])

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

local wait, which = 0, 0
for i = 1, scopes do
  local arg = 6 + (i - 1) * 3
  local w = scope_wait(KEYS[2 * i - 1], KEYS[2 * i], tonumber(ARGV[arg + 1]), tonumber(ARGV[arg + 2]),
                       tonumber(ARGV[arg + 3]))
  if w > wait then wait, which = w, i end
end
local levels = {}
for j = 1, buckets do
  local arg = 6 + 3 * scopes + (j - 1) * 2
  local capacity, rate = tonumber(ARGV[arg + 1]), tonumber(ARGV[arg + 2])
  levels[j] = bucket_level(KEYS[2 * scopes + j], capacity, rate)
  if levels[j] < 1 then
    local w = (1 - levels[j]) / rate
    if w > wait then wait, which = w, scopes + j end
  end
end
if wait > 0 then return tostring(wait) .. ' ' .. which end
for i = 1, scopes do
  redis.call('ZADD', KEYS[2 * i], now + hold, id)
  redis.call('EXPIRE', KEYS[2 * i], hold)
end
for j = 1, buckets do
  local arg = 6 + 3 * scopes + (j - 1) * 2
  bucket_store(KEYS[2 * scopes + j], levels[j] - 1, tonumber(ARGV[arg + 1]), tonumber(ARGV[arg + 2]))
end
return '0 0'
"""
)

# KEYS: per scope a failures set and an in-flight set, then the buckets to give a token back to.
# ARGV: now, window, ticket id, scope count, failed (1/0), clear the failures (1/0), per bucket: capacity, tokens/s.
_SETTLE = (
    _LUA_COMMON
    + """
local window, id, scopes = tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local failed, clear = ARGV[5] == '1', ARGV[6] == '1'
for i = 1, scopes do
  redis.call('ZREM', KEYS[2 * i], id)
  if failed then
    redis.call('ZADD', KEYS[2 * i - 1], now, id)
    redis.call('EXPIRE', KEYS[2 * i - 1], window)
  elseif clear then
    redis.call('DEL', KEYS[2 * i - 1])  -- the limits count consecutive failures: a right password forgets them
  end
end
local first = 7
for j = 0, #KEYS - 2 * scopes - 1 do
  local capacity, rate = tonumber(ARGV[first + 2 * j]), tonumber(ARGV[first + 2 * j + 1])
  local key = KEYS[2 * scopes + 1 + j]
  bucket_store(key, math.min(capacity, bucket_level(key, capacity, rate) + 1), capacity, rate)
end
return 0
"""
)


@dataclass(frozen=True, slots=True)
class _Scope:
    """Failures in a sliding hour, with the guesses in flight; backoff after `free` of them, at most `limit`."""

    name: str
    failures: str
    limit: int
    free: int

    @property
    def in_flight(self) -> str:
        return self.failures + ":in-flight"


@dataclass(frozen=True, slots=True)
class _Bucket:
    """A token bucket holding up to `per_hour` tokens, refilled at `per_hour` an hour."""

    name: str
    key: str
    per_hour: int
    refundable: bool = False  # a right password (or no outcome) gives the token back

    @property
    def args(self) -> list[float]:
        return [self.per_hour, self.per_hour / WINDOW_SECONDS]


@dataclass(frozen=True, slots=True)
class SourceLimits:
    """Hourly sizes of one client address's buckets."""

    failures: int
    login_attempts: int
    registrations: int


@dataclass(frozen=True, slots=True)
class RateLimits:
    max_failures_per_account: int  # unknown devices, together
    max_failures_per_device: int
    free_failures_before_backoff: int
    max_login_attempts_per_device: int
    ordinary_source: SourceLimits
    shared_source: SourceLimits
    shared_egress: tuple[Network, ...] = field(default=())

    def for_source(self, source: str) -> SourceLimits:
        try:
            address = ipaddress.ip_address(source)
        except ValueError:
            return self.ordinary_source
        return self.shared_source if any(address in network for network in self.shared_egress) else self.ordinary_source


class RedisRateLimiter:
    def __init__(self, gateway: RedisGateway, clock: Clock, limits: RateLimits) -> None:
        self._redis = gateway
        self._clock = clock
        self._limits = limits
        self._reserve = gateway.client.register_script(_RESERVE)
        self._settle_script = gateway.client.register_script(_SETTLE)

    async def reserve_guess(
        self, account_key: str, source: str | None, *, login: bool, device: str | None = None
    ) -> GuessTicket | RetryAfter:
        ticket = GuessTicket(id=secrets.token_hex(8), account_key=account_key, source=source, device=device)
        buckets = self._buckets(ticket)
        attempts = self._login_attempts(ticket) if login else None
        if attempts is not None:
            buckets.append(attempts)
        throttled = await self._run_reserve(ticket.id, self._scopes(ticket), buckets)
        return throttled or ticket

    async def record_failed_guess(self, ticket: GuessTicket) -> None:
        await self._settle(ticket, failed=True)

    async def record_correct_guess(self, ticket: GuessTicket) -> None:
        await self._settle(ticket, clear_failures=True)

    async def release_guess(self, ticket: GuessTicket) -> None:
        await self._settle(ticket)

    async def admit_registration(self, source: str | None) -> RetryAfter | None:
        if not source:
            return None
        per_hour = self._limits.for_source(source).registrations
        bucket = _Bucket("address_registrations", self._redis.key("signups", "source", source), per_hour)
        return await self._run_reserve(secrets.token_hex(8), [], [bucket])

    async def lift(self, *, account_key: str | None = None, source: str | None = None) -> int:
        key = self._redis.key
        patterns = []
        if account_key:  # its unknown devices and every device of it
            patterns += [key(kind, "account", account_key) + "*" for kind in ("guesses", "logins")]
        if source:
            patterns += [key(kind, "source", source) for kind in ("failures", "logins", "signups")]

        async def forget(r: Redis) -> int:
            found = [k for pattern in patterns async for k in r.scan_iter(match=pattern, count=500)]
            return int(await r.delete(*found)) if found else 0

        return await self._redis.run(forget)

    async def _settle(self, ticket: GuessTicket, *, failed: bool = False, clear_failures: bool = False) -> None:
        """Take the guess out of every in-flight set, in one script; a failed guess is recorded as a failure, a
        correct one clears its scope's failures; unless it failed, the address's failure token goes back."""
        scopes = self._scopes(ticket)
        refunds = [] if failed else [b for b in self._buckets(ticket) if b.refundable]
        keys = [k for scope in scopes for k in (scope.failures, scope.in_flight)] + [b.key for b in refunds]
        args: list[float | int | str] = [
            self._clock.now().timestamp(),
            WINDOW_SECONDS,
            ticket.id,
            len(scopes),
            int(failed),
            int(clear_failures),
        ]
        for bucket in refunds:
            args += bucket.args
        await self._redis.run(lambda r: self._settle_script(keys=keys, args=args))

    def _scopes(self, ticket: GuessTicket) -> list[_Scope]:
        limits, key = self._limits, self._redis.key
        if ticket.device:
            failures = key("guesses", "account", ticket.account_key, "device", ticket.device)
            return [_Scope("device", failures, limits.max_failures_per_device, limits.free_failures_before_backoff)]
        failures = key("guesses", "account", ticket.account_key)
        return [
            _Scope("unknown_devices", failures, limits.max_failures_per_account, limits.free_failures_before_backoff)
        ]

    def _buckets(self, ticket: GuessTicket) -> list[_Bucket]:
        """The per-address failure bucket of a guess from an unknown device (known devices have their own)."""
        if ticket.device or not ticket.source:
            return []
        per_hour = self._limits.for_source(ticket.source).failures
        return [_Bucket("address_failures", self._redis.key("failures", "source", ticket.source), per_hour, True)]

    def _login_attempts(self, ticket: GuessTicket) -> _Bucket | None:
        if ticket.device:
            per_hour = self._limits.max_login_attempts_per_device
            key = self._redis.key("logins", "account", ticket.account_key, "device", ticket.device)
            return _Bucket("device_logins", key, per_hour)
        if not ticket.source:
            return None
        per_hour = self._limits.for_source(ticket.source).login_attempts
        return _Bucket("address_logins", self._redis.key("logins", "source", ticket.source), per_hour)

    async def _run_reserve(
        self, attempt_id: str, scopes: Sequence[_Scope], buckets: Sequence[_Bucket]
    ) -> RetryAfter | None:
        keys = [k for scope in scopes for k in (scope.failures, scope.in_flight)] + [b.key for b in buckets]
        args: list[float | int | str] = [
            self._clock.now().timestamp(),
            WINDOW_SECONDS,
            RESERVATION_SECONDS,
            attempt_id,
            len(scopes),
            len(buckets),
        ]
        for scope in scopes:
            args += [scope.limit, scope.free, MAX_BACKOFF_SECONDS]
        for bucket in buckets:
            args += bucket.args
        reply = str(await self._redis.run(lambda r: self._reserve(keys=keys, args=args)))
        wait_text, which_text = reply.split()
        wait, which = float(wait_text), int(which_text)
        if wait <= 0:
            return None
        names = [s.name for s in scopes] + [b.name for b in buckets]
        return RetryAfter(seconds=math.ceil(wait), limit=names[which - 1])
