"""The Redis rate limiter with the service's default limits, sized for the event's venue."""

from __future__ import annotations

import asyncio
import ipaddress
import itertools

from auth_service.adapters.redis.client import RedisGateway, create_redis
from auth_service.adapters.redis.rate_limiter import Network, RateLimits, RedisRateLimiter, SourceLimits
from auth_service.application.ports import GuessTicket, RetryAfter
from auth_service.bootstrap import rate_limits
from auth_service.settings import Settings
from tests.support.app import FixedClock

VENUE = "198.51.100.250"  # every attendee's requests come from the venue's one public address
ATTENDEES = 2_000


async def test_the_default_limits_admit_a_whole_venue_behind_one_address(
    redis_base_url: str, redis_prefix: str
) -> None:
    """All attendees register and log in at the same instant (the clock is fixed); one in five mistypes the
    password first, one in two logs in on a second device. Nobody is throttled."""
    defaults = rate_limits(Settings(database_url="postgresql://defaults@127.0.0.1/defaults"))
    client = create_redis(redis_base_url, None)
    limiter = RedisRateLimiter(RedisGateway(client, redis_prefix + "venue:"), FixedClock(), defaults)

    at_once = asyncio.Semaphore(50)  # attendees arriving together, within one worker's Redis pool

    async def attendee(number: int) -> None:
        async with at_once:
            await register_and_log_in(f"attendee-{number}", number)

    async def register_and_log_in(account: str, number: int) -> None:
        assert await limiter.admit_registration(VENUE) is None
        if number % 5 == 0:
            typo = await limiter.reserve_guess(account, VENUE, login=True)
            assert isinstance(typo, GuessTicket), typo
            await limiter.record_failed_guess(typo)
        for _device in range(1 + number % 2):
            login = await limiter.reserve_guess(account, VENUE, login=True)
            assert isinstance(login, GuessTicket), login
            await limiter.record_correct_guess(login)

    try:
        await asyncio.gather(*(attendee(n) for n in range(ATTENDEES)))
    finally:
        await client.aclose()


def small_limits(shared_egress: tuple[Network, ...] = ()) -> RateLimits:
    return RateLimits(
        max_failures_per_account=3,
        max_failures_per_device=3,
        free_failures_before_backoff=100,
        max_login_attempts_per_device=100,
        ordinary_source=SourceLimits(failures=2, login_attempts=100, registrations=2),
        shared_source=SourceLimits(failures=4, login_attempts=100, registrations=4),
        shared_egress=shared_egress,
    )


async def test_a_shared_egress_address_gets_the_larger_buckets_and_every_bucket_heals(
    redis_base_url: str, redis_prefix: str
) -> None:
    clock = FixedClock()
    client = create_redis(redis_base_url, None)
    limits = small_limits(shared_egress=(ipaddress.ip_network("198.51.100.0/24"),))
    limiter = RedisRateLimiter(RedisGateway(client, redis_prefix + "shared:"), clock, limits)

    async def failures_until_refused(source: str) -> int:
        for n in itertools.count():
            ticket = await limiter.reserve_guess(f"account-{source}-{n}", source, login=True)
            if isinstance(ticket, RetryAfter):
                assert ticket.limit == "address_failures"
                return n
            await limiter.record_failed_guess(ticket)
        raise AssertionError("unreachable")

    try:
        assert await failures_until_refused("192.0.2.50") == 2
        assert await failures_until_refused("198.51.100.50") == 4  # inside the shared egress network
        refused = await limiter.reserve_guess("someone", "192.0.2.50", login=True)
        assert refused == RetryAfter(seconds=1800, limit="address_failures")  # one token per 3600/2 s
        clock.advance(seconds=1800)
        assert isinstance(await limiter.reserve_guess("someone", "192.0.2.50", login=True), GuessTicket)
        assert [await limiter.admit_registration("198.51.100.51") for _ in range(5)][-1] == RetryAfter(
            seconds=900, limit="address_registrations"
        )
    finally:
        await client.aclose()


async def test_a_known_device_is_not_in_the_unknown_devices_budget_and_a_lift_clears_both(
    redis_base_url: str, redis_prefix: str
) -> None:
    client = create_redis(redis_base_url, None)
    limiter = RedisRateLimiter(RedisGateway(client, redis_prefix + "devices:"), FixedClock(), small_limits())
    try:
        for n in range(3):
            stranger = await limiter.reserve_guess("victim", f"203.0.113.{n}", login=True)
            assert isinstance(stranger, GuessTicket)
            await limiter.record_failed_guess(stranger)
        refused = await limiter.reserve_guess("victim", "203.0.113.99", login=True)
        assert isinstance(refused, RetryAfter) and refused.limit == "unknown_devices"
        owner = await limiter.reserve_guess("victim", "203.0.113.99", login=True, device="owners-laptop")
        assert isinstance(owner, GuessTicket)
        await limiter.record_failed_guess(owner)  # the owner's typo counts on the laptop only
        assert await limiter.lift(account_key="victim") >= 2
        assert isinstance(await limiter.reserve_guess("victim", "203.0.113.99", login=True), GuessTicket)
    finally:
        await client.aclose()


async def test_with_the_defaults_a_drained_address_serves_the_next_guess_within_seconds(
    redis_base_url: str, redis_prefix: str
) -> None:
    """The README's numbers: one client drains its address's failure bucket (2,000; a shared egress address
    10,000); the next guess from anyone else there waits `Retry-After` 2 s (1 s), never an hour."""
    venue = "198.51.100.251"
    settings = Settings(database_url="postgresql://defaults@127.0.0.1/defaults", shared_egress_cidrs=f"{venue}/32")
    clock = FixedClock()
    client = create_redis(redis_base_url, None)
    limiter = RedisRateLimiter(RedisGateway(client, redis_prefix + "defaults:"), clock, rate_limits(settings))
    at_once = asyncio.Semaphore(50)

    async def guess(account: str, source: str) -> GuessTicket | RetryAfter:
        async with at_once:
            return await limiter.reserve_guess(account, source, login=True)

    try:
        for source, burst, wait in (("192.0.2.251", 2_000, 2), (venue, 10_000, 1)):
            answers = await asyncio.gather(*(guess(f"made-up-{source}-{n}", source) for n in range(burst)))
            assert all(isinstance(answer, GuessTicket) for answer in answers)  # the whole burst is admitted...
            refused = await limiter.reserve_guess("attendee", source, login=True)
            assert refused == RetryAfter(seconds=wait, limit="address_failures")  # ...then a short wait
            clock.advance(seconds=wait)
            assert isinstance(await limiter.reserve_guess("attendee", source, login=True), GuessTicket)
    finally:
        await client.aclose()
