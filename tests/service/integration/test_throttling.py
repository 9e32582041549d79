"""Throttles that hold under concurrency: attempts still in flight count, backoff is per (account, source)
under a cap per account, and every login attempt and registration counts toward a limit per source.

Each test uses its own client addresses (the run's Redis namespace is shared). The clock is fixed, so the
sequential limit is exact: with no time passing, a client guessing one password at a time gets exactly
`LOGIN_FREE_FAILURES_BEFORE_BACKOFF` checks before the backoff answers 429."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from auth_service.application.ports import AuthEvent
from auth_service.settings import Settings
from tests.service.hashers import cheap_hasher
from tests.service.integration.helpers import assert_problem, query
from tests.support.app import STRONG_PASSWORD, FixedClock, bearer, serving, unique_email, with_settings

WRONG = "Wrong-Password-1"
NEW_PASSWORD = "Saxophone-Lantern-Pebble-93"


def from_ip(ip: str) -> dict[str, str]:
    return {"x-forwarded-for": ip}


@pytest.mark.parametrize(
    ("limits", "sequential_limit"),
    [
        ({"login_free_failures_before_backoff": 5}, 5),
        ({"login_free_failures_before_backoff": 100_000, "login_max_failures_per_account_per_hour": 20}, 20),
    ],
    ids=["backoff", "account-cap"],
)
async def test_300_concurrent_guesses_check_no_more_passwords_than_one_guess_at_a_time(
    settings: Settings, limits: dict[str, int], sequential_limit: int
) -> None:
    # This is about the limiter: on a loaded machine, let no request give up waiting for a Redis connection.
    burst = with_settings(settings, redis_pool_wait_seconds=60, **limits)
    async with serving(burst, clock=FixedClock(), hasher=cheap_hasher()) as svc:
        user = await svc.register()
        svc.client.cookies.clear()  # guesses from unknown devices: the account's shared budget
        responses = await asyncio.gather(
            *(
                svc.client.post("/auth/login", json={"email": user["email"], "password": f"Guess-{i}-Ferret"})
                for i in range(300)
            )
        )
        checks = svc.metrics.events.count(AuthEvent.LOGIN_FAILURE)
    statuses = Counter(r.status_code for r in responses)
    print(f"\npassword checks per 300 concurrent guesses: {checks} (statuses {dict(statuses)})")
    assert checks == sequential_limit
    assert statuses == {401: sequential_limit, 429: 300 - sequential_limit}, statuses
    assert_problem(next(r for r in responses if r.status_code == 429), 429, "login_throttled")


@pytest.mark.parametrize(
    ("method", "path", "body", "audited_as"),
    [
        (
            "POST",
            "/users/me/password",
            {"current_password": WRONG, "new_password": NEW_PASSWORD},
            "password_change_failed",
        ),
        ("DELETE", "/users/me", {"password": WRONG}, "account_deletion_failed"),
    ],
    ids=["password-change", "deletion"],
)
async def test_a_burst_of_wrong_reauthentications_stays_within_the_sequential_limit(
    settings: Settings, method: str, path: str, body: dict[str, str], audited_as: str
) -> None:
    async with serving(settings, clock=FixedClock(), hasher=cheap_hasher()) as svc:
        user, headers = await svc.signed_in_user()
        responses = await asyncio.gather(
            *(svc.client.request(method, path, headers=headers, json=body) for _ in range(40))
        )
        codes = Counter(r.json()["code"] for r in responses)
        free = settings.login_free_failures_before_backoff
        assert codes == {"wrong_password": free, "reauth_throttled": 40 - free}, codes
        throttled = assert_problem(next(r for r in responses if r.status_code == 429), 429, "reauth_throttled")
        assert throttled["detail"]
        assert int(next(r for r in responses if r.status_code == 429).headers["retry-after"]) >= 1
        # The session is a device of its own: its wrong passwords slow it, not the account's other devices.
        assert (
            await svc.client.post("/auth/login", json={"email": user["email"], "password": WRONG})
        ).status_code == 401
        await svc.login(user["email"])
        # ...and the throttled session stays throttled, even with the right password (decided before any hash).
        right = {**body, "current_password" if "current_password" in body else "password": STRONG_PASSWORD}
        assert_problem(await svc.client.request(method, path, headers=headers, json=right), 429, "reauth_throttled")
    # The refusals are counted per key and written by a flush (here the one on shutdown), not one row per 429.
    rows = await query(
        settings, "SELECT event_type, details, host(ip) AS ip FROM audit_events WHERE user_id = :id", id=user["id"]
    )
    failures = [r for r in rows if r.event_type == audited_as]
    assert len(failures) == free
    assert failures[0].details == {"reason": "wrong_password"} and failures[0].ip == "203.0.113.7"
    [refusals] = [r for r in rows if r.event_type == "reauth_throttled"]
    assert refusals.details["count"] == 40 - free + 1 and refusals.ip == "203.0.113.7"  # the burst and the retry
    assert refusals.details["limit"] == "device" and refusals.details["operation"] == audited_as


async def test_a_strangers_failures_do_not_lock_the_victims_known_device_out(settings: Settings) -> None:
    async with serving(
        with_settings(settings, trusted_proxy_count=1), clock=FixedClock(), hasher=cheap_hasher()
    ) as svc:
        user = await svc.register()
        victims_device = {"cookie": f"aidlc_device={user['device_token']}"}
        svc.client.cookies.clear()  # the stranger's browser never logged in to this account
        stranger = [
            (
                await svc.client.post(
                    "/auth/login", json={"email": user["email"], "password": WRONG}, headers=from_ip("198.51.100.66")
                )
            ).status_code
            for _ in range(8)
        ]
        assert stranger == [401] * 5 + [429] * 3
        # The victim's device has no failures of its own: neither a typo nor the right password is backed off.
        typo = await svc.client.post(
            "/auth/login",
            json={"email": user["email"], "password": WRONG},
            headers={**from_ip("192.0.2.10"), **victims_device},
        )
        assert_problem(typo, 401, "invalid_credentials")
        svc.client.cookies.clear()
        await svc.login(user["email"], **from_ip("192.0.2.10"), **victims_device)
        # Unknown devices share the account's budget: the stranger, and a device the victim never used, wait.
        svc.client.cookies.clear()
        for source in ("198.51.100.66", "192.0.2.11"):
            again = await svc.client.post(
                "/auth/login", json={"email": user["email"], "password": STRONG_PASSWORD}, headers=from_ip(source)
            )
            assert_problem(again, 429, "login_throttled")


async def test_guesses_spread_over_many_sources_are_still_capped_per_account(settings: Settings) -> None:
    capped = with_settings(
        settings,
        trusted_proxy_count=1,
        login_max_failures_per_account_per_hour=10,
        login_free_failures_before_backoff=100,
    )
    async with serving(capped, clock=FixedClock(), hasher=cheap_hasher()) as svc:
        user = await svc.register()
        svc.client.cookies.clear()  # every guess from an unknown device
        for i in range(10):
            response = await svc.client.post(
                "/auth/login",
                json={"email": user["email"], "password": WRONG},
                headers=from_ip(f"198.51.100.{i + 100}"),
            )
            assert response.status_code == 401
        capped_out = await svc.client.post(
            "/auth/login", json={"email": user["email"], "password": STRONG_PASSWORD}, headers=from_ip("192.0.2.100")
        )
        assert_problem(capped_out, 429, "login_throttled")
        assert 3500 <= int(capped_out.headers["retry-after"]) <= 3600
        # The owner's known device is not in that budget.
        await svc.login(user["email"], **from_ip("192.0.2.100"), cookie=f"aidlc_device={user['device_token']}")


async def test_every_login_attempt_counts_toward_the_per_source_limit(settings: Settings) -> None:
    limited = with_settings(settings, trusted_proxy_count=1, login_max_attempts_per_ip_per_hour=4)
    clock = FixedClock()
    async with serving(limited, clock=clock, hasher=cheap_hasher()) as svc:
        user = await svc.register()
        responses = []
        for _ in range(5):
            svc.client.cookies.clear()  # each time from a browser that never logged in here
            responses.append(
                await svc.client.post(
                    "/auth/login",
                    json={"email": user["email"], "password": STRONG_PASSWORD},
                    headers=from_ip("198.51.100.201"),
                )
            )
        assert [r.status_code for r in responses] == [200, 200, 200, 200, 429]
        # A token bucket: one more attempt every 3600/4 s, not an hour after the first.
        assert int(responses[-1].headers["retry-after"]) == 900
        svc.client.cookies.clear()
        await svc.login(user["email"], **from_ip("192.0.2.201"))  # another source is not affected
        # A known device is counted per device, not per address.
        await svc.login(user["email"], **from_ip("198.51.100.201"), cookie=f"aidlc_device={user['device_token']}")
        clock.advance(seconds=900)
        svc.client.cookies.clear()
        await svc.login(user["email"], **from_ip("198.51.100.201"))


async def test_registrations_are_throttled_per_source_even_in_a_burst(settings: Settings) -> None:
    limited = with_settings(settings, trusted_proxy_count=1, registration_max_per_ip_per_hour=3)
    async with serving(limited, clock=FixedClock(), hasher=cheap_hasher()) as svc:
        responses = await asyncio.gather(
            *(
                svc.client.post(
                    "/auth/register",
                    headers=from_ip("198.51.100.202"),
                    json={"email": unique_email(), "password": STRONG_PASSWORD, "display_name": "Burst"},
                )
                for _ in range(10)
            )
        )
        assert Counter(r.status_code for r in responses) == {201: 3, 429: 7}
        throttled = next(r for r in responses if r.status_code == 429)
        assert_problem(throttled, 429, "registration_throttled")
        assert int(throttled.headers["retry-after"]) == 1200  # the bucket gives one more every 3600/3 s
        other = await svc.client.post(
            "/auth/register",
            headers=from_ip("192.0.2.202"),
            json={"email": unique_email(), "password": STRONG_PASSWORD, "display_name": "Elsewhere"},
        )
        assert other.status_code == 201, other.text
        me = await svc.client.post("/auth/login", json={"email": other.json()["email"], "password": STRONG_PASSWORD})
        assert (await svc.client.get("/users/me", headers=bearer(me.json()["access_token"]))).status_code == 200
    [refusals] = await query(
        settings,
        "SELECT details FROM audit_events WHERE event_type = 'registration_throttled' AND host(ip) = :ip",
        ip="198.51.100.202",
    )  # one row for the seven, written by the flush on shutdown
    assert refusals.details["count"] == 7
    assert {k: refusals.details[k] for k in ("limit", "retry_after")} == {
        "limit": "address_registrations",
        "retry_after": "1200",
    }
