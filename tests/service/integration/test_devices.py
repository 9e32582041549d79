"""Device tokens on real PostgreSQL: bound to one account, bounded per account, forgotten when unused."""

from __future__ import annotations

from typing import Any

from auth_service.settings import Settings
from tests.service.hashers import cheap_hasher
from tests.service.integration.helpers import query
from tests.support.app import STRONG_PASSWORD, FixedClock, Service, serving, with_settings

DAY = 24 * 3600


async def log_in(svc: Service, email: str, device: str | None = None) -> dict[str, Any]:
    svc.client.cookies.clear()
    body = {"email": email, "password": STRONG_PASSWORD, **({"device_token": device} if device else {})}
    response = await svc.client.post("/auth/login", json=body)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def devices_of(settings: Settings, user_id: str) -> int:
    rows = await query(settings, "SELECT count(*) AS n FROM device_tokens WHERE user_id = :id", id=user_id)
    return int(rows[0].n)


async def test_a_known_device_keeps_its_token_and_a_browser_sends_it_as_a_cookie(settings: Settings) -> None:
    async with serving(settings, hasher=cheap_hasher()) as svc:
        user = await svc.register()  # the client's cookie jar now holds the device cookie
        response = await svc.client.post("/auth/login", json={"email": user["email"], "password": STRONG_PASSWORD})
        assert response.json()["device_token"] == user["device_token"]  # recognised from the cookie alone
        assert "aidlc_device=" in response.headers["set-cookie"]  # its lifetime starts again
        again = await log_in(svc, user["email"], user["device_token"])  # or from the body, as an app sends it
        assert again["device_token"] == user["device_token"]
        assert await devices_of(settings, user["id"]) == 1


async def test_another_accounts_or_an_unknown_token_makes_a_new_device(settings: Settings) -> None:
    async with serving(settings, hasher=cheap_hasher()) as svc:
        alice, bob = await svc.register(), await svc.register()
        assert (await log_in(svc, bob["email"], alice["device_token"]))["device_token"] not in {
            alice["device_token"],
            bob["device_token"],
        }
        assert (await log_in(svc, bob["email"], "x" * 43))["device_token"] != "x" * 43
        assert await devices_of(settings, alice["id"]) == 1  # Alice's device was not moved to Bob


async def test_an_account_keeps_at_most_the_configured_devices_and_forgets_unused_ones(settings: Settings) -> None:
    clock = FixedClock()
    bounded = with_settings(settings, device_tokens_per_account=3, device_token_ttl_seconds=30 * DAY)
    async with serving(bounded, clock=clock, hasher=cheap_hasher()) as svc:
        user = await svc.register()
        tokens = [user["device_token"]]
        for _ in range(5):  # five new browsers
            clock.advance(seconds=1)
            tokens.append((await log_in(svc, user["email"]))["device_token"])
        assert len(set(tokens)) == 6
        assert await devices_of(settings, user["id"]) == 3
        # The most recently used ones stay known; the oldest was forgotten and counts as a new device.
        assert (await log_in(svc, user["email"], tokens[-1]))["device_token"] == tokens[-1]
        assert (await log_in(svc, user["email"], tokens[0]))["device_token"] != tokens[0]

        # Unused for longer than its lifetime, a device is unknown again, and its row goes at the next login.
        clock.advance(seconds=31 * DAY)
        fresh = (await log_in(svc, user["email"], tokens[-1]))["device_token"]
        assert fresh != tokens[-1]
        assert await devices_of(settings, user["id"]) == 1


async def test_devices_go_with_the_account(settings: Settings) -> None:
    async with serving(settings, hasher=cheap_hasher()) as svc:
        user, headers = await svc.signed_in_user()
        deleted = await svc.client.request("DELETE", "/users/me", headers=headers, json={"password": STRONG_PASSWORD})
        assert deleted.status_code == 204
        assert await devices_of(settings, user["id"]) == 0
