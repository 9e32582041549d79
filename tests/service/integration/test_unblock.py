"""`python -m auth_service unblock` (what `make unblock` runs, locally and as an ECS task): lifts a block on
the real Redis, and the blocked owner or venue is served at once; the lift is audited."""

from __future__ import annotations

import asyncio
import os
import sys

from auth_service.settings import Settings
from tests.service.hashers import cheap_hasher
from tests.service.integration.helpers import assert_problem, query
from tests.support.app import STRONG_PASSWORD, FixedClock, serving, unique_email, with_settings

WRONG = "Wrong-Password-1"


async def unblock(settings: Settings, *arguments: str) -> tuple[int, str]:
    env = {
        "PATH": os.environ["PATH"],
        "DATABASE_URL": settings.database_url.get_secret_value() if settings.database_url else "",
        "REDIS_URL": settings.redis_url,
        "REDIS_KEY_PREFIX": settings.redis_key_prefix,
        "ENVIRONMENT": "local",
        "UNBLOCK_OPERATOR": "test-operator",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "auth_service", "unblock", *arguments, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await process.communicate()
    return process.returncode or 0, output.decode()


async def test_unblocking_an_account_lets_its_owner_in_from_a_new_device_at_once(settings: Settings) -> None:
    async with serving(
        with_settings(settings, trusted_proxy_count=1), clock=FixedClock(), hasher=cheap_hasher()
    ) as svc:
        user = await svc.register()
        svc.client.cookies.clear()
        wrong = {"email": user["email"], "password": WRONG}
        while (
            await svc.client.post("/auth/login", json=wrong, headers={"x-forwarded-for": "203.0.113.9"})
        ).status_code != 429:
            pass
        right = {"email": user["email"], "password": STRONG_PASSWORD}
        blocked = await svc.client.post("/auth/login", json=right, headers={"x-forwarded-for": "192.0.2.9"})
        assert_problem(blocked, 429, "login_throttled")

        code, output = await unblock(settings, "--account", user["email"].upper())
        assert code == 0, output
        assert f"unblocked {user['email'].upper()}: " in output and " 0 limiter entries" not in output

        svc.client.cookies.clear()
        assert (
            await svc.client.post("/auth/login", json=right, headers={"x-forwarded-for": "192.0.2.9"})
        ).status_code == 200
        rows = await query(
            settings,
            "SELECT details FROM audit_events WHERE event_type = 'throttle_lifted' AND details ? 'account_key'",
        )
        assert any(r.details["operator"] == "test-operator" and int(r.details["removed"]) >= 1 for r in rows)


async def test_unblocking_an_address_refills_its_buckets(settings: Settings) -> None:
    limited = with_settings(settings, trusted_proxy_count=1, registration_max_per_ip_per_hour=2)
    async with serving(limited, clock=FixedClock(), hasher=cheap_hasher()) as svc:
        venue = {"x-forwarded-for": "198.51.100.99"}

        async def register() -> int:
            body = {"email": unique_email(), "password": STRONG_PASSWORD, "display_name": "Venue"}
            return (await svc.client.post("/auth/register", json=body, headers=venue)).status_code

        assert [await register() for _ in range(3)] == [201, 201, 429]
        code, output = await unblock(settings, "--ip", "198.51.100.99")
        assert code == 0, output
        assert await register() == 201
        rows = await query(
            settings,
            "SELECT 1 FROM audit_events WHERE event_type = 'throttle_lifted' AND host(ip) = '198.51.100.99'",
        )
        assert rows


async def test_unblock_refuses_what_is_not_an_email_or_an_address(settings: Settings) -> None:
    code, output = await unblock(settings, "--account", "not an email")
    assert code == 2 and "unblock: --account:" in output
    code, output = await unblock(settings, "--ip", "the-venue")
    assert code == 2 and "not an IP address" in output
    code, output = await unblock(settings)
    assert code == 2 and "unblock needs --account EMAIL and/or --ip ADDRESS" in output
