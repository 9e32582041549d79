"""Nobody locks anybody out: the attack scenarios of a venue where ~2,000 attendees share one NAT address.

The clock is fixed and moved by hand, so "served within the documented time" is a statement about the
limiter's arithmetic, not about how fast this machine is. Each test uses its own addresses (the run's Redis
namespace is shared) and sends every request with exactly the device cookie it means to send: the test
client's cookie jar is emptied before each request, as if every request came from a different browser.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import httpx

from auth_service.application.ports import AuthEvent
from auth_service.settings import Settings
from tests.service.hashers import cheap_hasher
from tests.service.integration.helpers import assert_problem, query
from tests.support.app import STRONG_PASSWORD, FixedClock, Service, bearer, serving, unique_email, with_settings

WRONG = "Wrong-Password-1"
DEVICE_COOKIE = "aidlc_device"


async def send(
    svc: Service, method: str, path: str, body: dict[str, Any], ip: str, device: str | None = None, **headers: str
) -> httpx.Response:
    """One request from `ip`, carrying the device cookie `device` (or none)."""
    svc.client.cookies.clear()
    cookie = {"cookie": f"{DEVICE_COOKIE}={device}"} if device else {}
    return await svc.client.request(method, path, json=body, headers={"x-forwarded-for": ip, **cookie, **headers})


async def register_at(svc: Service, ip: str) -> dict[str, Any]:
    email = unique_email()
    response = await send(
        svc, "POST", "/auth/register", {"email": email, "password": STRONG_PASSWORD, "display_name": "Owner"}, ip
    )
    assert response.status_code == 201, response.text
    return {**response.json(), "password": STRONG_PASSWORD}


async def test_an_attack_from_50_addresses_and_the_venue_cannot_stop_the_owners_known_device(
    settings: Settings,
) -> None:
    venue = "198.51.100.1"
    configured = with_settings(settings, trusted_proxy_count=1, shared_egress_cidrs=f"{venue}/32")
    async with serving(configured, clock=FixedClock(), hasher=cheap_hasher()) as svc:
        owner = await register_at(svc, venue)  # registered at the venue: that browser is now a known device
        device = owner.get("device_token")

        attackers = [f"203.0.113.{n}" for n in range(100, 150)] + [venue]
        outcomes: Counter[int] = Counter()
        for ip in attackers:
            for _ in range(10):
                response = await send(svc, "POST", "/auth/login", {"email": owner["email"], "password": WRONG}, ip)
                outcomes[response.status_code] += 1
        print(f"\n510 wrong guesses from 51 addresses: {dict(outcomes)}")

        login = await send(
            svc, "POST", "/auth/login", {"email": owner["email"], "password": STRONG_PASSWORD}, venue, device
        )
        assert login.status_code == 200, (
            f"the owner's known device: {login.status_code} Retry-After {login.headers.get('retry-after')}"
        )
        # Signed in, the owner can still change the password: the session is a known device of its own.
        change = await send(
            svc,
            "POST",
            "/users/me/password",
            {"current_password": STRONG_PASSWORD, "new_password": "Saxophone-Lantern-Pebble-93"},
            venue,
            **bearer(login.json()["access_token"]),
        )
        assert change.status_code == 204, change.text


async def test_after_a_burst_from_one_venue_client_another_attendee_is_served_within_the_documented_time(
    settings: Settings,
) -> None:
    venue = "198.51.100.2"
    failures_per_hour = 50  # small, so that the burst is short; the defaults are in the README
    registrations_per_hour = 20
    configured = with_settings(
        settings,
        trusted_proxy_count=1,
        shared_egress_cidrs=f"{venue}/32",
        login_max_failures_per_ip_per_hour=failures_per_hour,
        shared_egress_max_failures_per_ip_per_hour=failures_per_hour,
        registration_max_per_ip_per_hour=registrations_per_hour,
        shared_egress_max_registrations_per_ip_per_hour=registrations_per_hour,
    )
    clock = FixedClock()
    async with serving(configured, clock=clock, hasher=cheap_hasher()) as svc:
        attendee = await register_at(svc, "192.0.2.2")  # registered elsewhere: at the venue, an unknown device

        # One venue client guesses made-up emails, 5 each, so it is never backed off, until the venue is refused.
        guesses = 0
        while True:
            email = unique_email()
            statuses = [
                (await send(svc, "POST", "/auth/login", {"email": email, "password": WRONG}, venue)).status_code
                for _ in range(5)
            ]
            guesses += statuses.count(401)
            if 429 in statuses:
                break
            assert guesses <= failures_per_hour, "the venue was never refused: the test proves nothing"

        heal = math.ceil(3600 / failures_per_hour)  # docs/operations.md: a drained bucket serves one more per 3600/N s
        right = {"email": attendee["email"], "password": STRONG_PASSWORD}
        first = await send(svc, "POST", "/auth/login", right, venue)
        if first.status_code == 429:
            retry_after = int(first.headers["retry-after"])
            print(f"\nthe attendee after a burst of {guesses} failures: 429, Retry-After {retry_after}")
            assert retry_after <= heal
            clock.advance(seconds=retry_after)
            first = await send(svc, "POST", "/auth/login", right, venue)
        assert first.status_code == 200, first.text

        # The same for the venue's registration bucket: a burst of registrations, then another attendee.
        made = 0
        while True:
            body = {"email": unique_email(), "password": STRONG_PASSWORD, "display_name": "Burst"}
            response = await send(svc, "POST", "/auth/register", body, venue)
            if response.status_code == 429:
                retry_after = int(response.headers["retry-after"])
                break
            made += 1
            assert made <= registrations_per_hour, "registration was never refused"
        print(f"registrations after a burst of {made}: Retry-After {retry_after}")
        assert retry_after <= math.ceil(3600 / registrations_per_hour)
        clock.advance(seconds=retry_after)
        late = {"email": unique_email(), "password": STRONG_PASSWORD, "display_name": "Latecomer"}
        assert (await send(svc, "POST", "/auth/register", late, venue)).status_code == 201


async def test_a_distributed_attack_from_unknown_devices_gets_at_most_the_documented_budget(
    settings: Settings,
) -> None:
    """One guess every 10 s for an hour, each from a new address: at most 20 passwords are checked."""
    configured = with_settings(settings, trusted_proxy_count=1)
    clock = FixedClock()
    async with serving(configured, clock=clock, hasher=cheap_hasher()) as svc:
        victim = await register_at(svc, "192.0.2.3")
        statuses: Counter[int] = Counter()
        retry_afters: list[int] = []
        for n in range(360):
            ip = f"10.{n // 250}.{n % 250}.3"
            response = await send(svc, "POST", "/auth/login", {"email": victim["email"], "password": WRONG}, ip)
            statuses[response.status_code] += 1
            if response.status_code == 429:
                assert_problem(response, 429, "login_throttled")
                retry_afters.append(int(response.headers["retry-after"]))
            clock.advance(seconds=10)
        checks = svc.metrics.events.count(AuthEvent.LOGIN_FAILURE)
        print(f"\n360 guesses from 360 addresses over an hour: {dict(statuses)}, passwords checked: {checks}")
        assert checks == statuses[401] <= 20
        assert max(retry_afters) > 60, "backoff: the waits grow"

    # Every refusal is audited with the address it came from (counted per address, written on shutdown here).
    rows = await query(
        settings,
        "SELECT sum((details->>'count')::int) AS n, count(DISTINCT host(ip)) AS addresses FROM audit_events "
        "WHERE event_type = 'login_throttled' AND details->>'account_key' = :key",
        key=_account_key(victim["email"]),
    )
    assert rows[0].n == statuses[429] and rows[0].addresses == statuses[429]


def _account_key(email: str) -> str:
    from auth_service.application.guesses import account_key
    from auth_service.domain.values import Email

    return account_key(Email(email))
