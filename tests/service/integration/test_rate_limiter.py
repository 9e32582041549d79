"""The Redis rate limiter with the service's default limits, sized for the event's venue."""

from __future__ import annotations

import asyncio

from auth_service.adapters.redis.client import RedisGateway, create_redis
from auth_service.adapters.redis.rate_limiter import RedisRateLimiter
from auth_service.application.ports import GuessTicket
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
