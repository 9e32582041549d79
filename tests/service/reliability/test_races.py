"""Races decided by PostgreSQL, not by luck: many requests at once through the real app (in-process ASGI,
real PostgreSQL and Redis, real argon2 hasher), each on its own pooled connection."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from auth_service.settings import Settings
from tests.service.hashers import GatedHasher, cheap_hasher
from tests.support.app import STRONG_PASSWORD, Service, bearer, serving, unique_email, with_settings

NEW_PASSWORD = "Saxophone-Lantern-Pebble-93"


@pytest.fixture
async def racy_service(settings: Settings) -> AsyncIterator[Service]:
    # Enough connections that requests really overlap inside PostgreSQL instead of queueing in the pool.
    # Failed logins are expected in these races: keep the per-account throttle out of the way.
    racy = with_settings(
        settings,
        db_pool_size=20,
        login_max_failures_per_account_per_hour=100_000,
        login_max_failures_per_device_per_hour=100_000,  # the racers share the client's device cookie
        login_max_attempts_per_device_per_hour=100_000,
        login_free_failures_before_backoff=100_000,
        refresh_max_per_session_per_minute=100_000,  # 20 refreshes of one session at once (the throttle: 10/min)
        max_sessions_per_account=100_000,  # 25 logins of one account (the cap, 20, would evict the changer's)
    )
    async with serving(racy) as svc:
        yield svc


async def _fetchval(database_url: str, query: str, *args: object) -> object:
    connection = await asyncpg.connect(database_url)
    try:
        return await connection.fetchval(query, *args)
    finally:
        await connection.close()


async def test_fifty_concurrent_registrations_of_one_email_create_exactly_one_user(
    racy_service: Service, database_url: str
) -> None:
    local = f"race-{uuid.uuid4().hex[:10]}"
    # Same address in different letter cases: uniqueness is case-insensitive.
    emails = [f"{local}@example.com" if i % 2 else f"{local.upper()}@Example.COM" for i in range(50)]
    responses = await asyncio.gather(
        *(
            racy_service.client.post(
                "/auth/register", json={"email": email, "password": STRONG_PASSWORD, "display_name": f"Racer {i}"}
            )
            for i, email in enumerate(emails)
        )
    )
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 1, 409: 49}, statuses
    assert all(r.headers["content-type"] == "application/problem+json" for r in responses if r.status_code == 409)
    rows = await _fetchval(database_url, "SELECT count(*) FROM users WHERE lower(email) = lower($1)", emails[0])
    assert rows == 1
    winner = next(r.json() for r in responses if r.status_code == 201)
    assert (
        await racy_service.client.post("/auth/login", json={"email": emails[0], "password": STRONG_PASSWORD})
    ).status_code == 200
    assert winner["email"].lower() == emails[0].lower()


async def test_concurrent_refreshes_with_one_token_produce_one_pair_and_keep_the_session(
    racy_service: Service, database_url: str
) -> None:
    """Twenty clients (or one client's retries) race one token: one rotation, and every racer gets its pair."""
    user = await racy_service.register()
    tokens = await racy_service.login(user["email"])
    responses = await asyncio.gather(
        *(racy_service.client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]}) for _ in range(20))
    )
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: 20}, statuses
    pairs = {(r.json()["refresh_token"], r.json()["access_token"]) for r in responses}
    assert len(pairs) == 1, "exactly one new pair"
    [(successor, access)] = pairs
    generation = await _fetchval(
        database_url,
        "SELECT s.refresh_generation FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.email = $1",
        user["email"],
    )
    assert generation == 1  # rotated once
    assert (await racy_service.client.get("/users/me", headers=bearer(access))).status_code == 200
    onwards = await racy_service.client.post("/auth/refresh", json={"refresh_token": successor})
    assert onwards.status_code == 200


async def test_concurrent_refreshes_after_the_grace_window_revoke_the_session(
    settings: Settings, database_url: str
) -> None:
    """The same race with the window closed (0 s): one rotation wins and the rest is reuse, which ends the session."""
    racy = with_settings(
        settings, db_pool_size=20, refresh_reuse_grace_seconds=0, refresh_max_per_session_per_minute=100_000
    )
    async with serving(racy) as service:
        user = await service.register()
        tokens = await service.login(user["email"])
        responses = await asyncio.gather(
            *(service.client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]}) for _ in range(20))
        )
        statuses = Counter(r.status_code for r in responses)
        assert statuses == {200: 1, 401: 19}, statuses
        winner = next(r.json() for r in responses if r.status_code == 200)
        codes = Counter(r.json()["code"] for r in responses if r.status_code == 401)
        assert codes["refresh_token_reused"] >= 1, codes  # reuse detection fired (the rest may see the revoked session)
        assert (await service.client.get("/users/me", headers=bearer(winner["access_token"]))).status_code == 401
        again = await service.client.post("/auth/refresh", json={"refresh_token": winner["refresh_token"]})
        assert again.status_code == 401
        reason = await _fetchval(
            database_url,
            "SELECT s.revoked_reason FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.email = $1",
            user["email"],
        )
        assert reason == "refresh_token_reused"


async def test_password_change_racing_logins_leaves_no_session_opened_with_the_old_password(
    racy_service: Service,
) -> None:
    """What "behave" means for a password change racing logins with the old and the new password:

    - no 5xx; a login answers 200 or 401, the change answers 204;
    - once the change has answered, the old password no longer logs in and the new one does;
    - the changer's own session survives; every session opened with the old password -- before or during the
      change -- is revoked afterwards (ASVS 3.3.3: a password change ends the other sessions);
      sessions opened with the new password stay valid.
    """
    for _round in range(2):
        user = await racy_service.register(email=unique_email())
        changer = await racy_service.login(user["email"])

        async def login(password: str, delay: float, email: str = user["email"]) -> tuple[str, int, dict[str, str]]:
            await asyncio.sleep(delay)
            response = await racy_service.client.post("/auth/login", json={"email": email, "password": password})
            return password, response.status_code, response.json()

        async def change(token: str = changer["access_token"]) -> int:
            response = await racy_service.client.post(
                "/users/me/password",
                headers=bearer(token),
                json={"current_password": STRONG_PASSWORD, "new_password": NEW_PASSWORD},
            )
            return response.status_code

        # Old-password logins spread over the whole change (verify + hash + commit, queued behind the logins'
        # own hashes on the 2-thread argon2 pool), so some start while the change is between its checks.
        racers = [login(STRONG_PASSWORD, i * 0.012) for i in range(24)]
        racers += [login(NEW_PASSWORD, 0.1 + i * 0.05) for i in range(4)]
        change_status, logins = await asyncio.gather(change(), asyncio.gather(*racers))
        assert change_status == 204
        assert all(status in (200, 401) for _, status, _ in logins), logins

        for password, expected in ((STRONG_PASSWORD, 401), (NEW_PASSWORD, 200)):
            after = await racy_service.client.post("/auth/login", json={"email": user["email"], "password": password})
            assert after.status_code == expected, (password, after.text)
        assert (await racy_service.client.get("/users/me", headers=bearer(changer["access_token"]))).status_code == 200

        survivors = []
        for password, status, body in logins:
            if status != 200:
                continue
            me = await racy_service.client.get("/users/me", headers=bearer(body["access_token"]))
            if password == STRONG_PASSWORD and me.status_code != 401:
                survivors.append(me.status_code)
            if password == NEW_PASSWORD:
                assert me.status_code == 200
        assert not survivors, f"round {_round}: {len(survivors)} session(s) opened with the old password survived"


async def test_account_deletion_racing_logins_never_fails_with_500_or_leaves_a_session(
    racy_service: Service, database_url: str
) -> None:
    """A login that verified the password while the account was being deleted must fail cleanly (401),
    not with a foreign-key error (500), and must leave no session behind."""
    user = await racy_service.register(email=unique_email())
    owner = await racy_service.login(user["email"])

    async def login(delay: float) -> int:
        await asyncio.sleep(delay)
        response = await racy_service.client.post(
            "/auth/login", json={"email": user["email"], "password": STRONG_PASSWORD}
        )
        return response.status_code

    async def delete() -> int:
        response = await racy_service.client.request(
            "DELETE", "/users/me", headers=bearer(owner["access_token"]), json={"password": STRONG_PASSWORD}
        )
        return response.status_code

    delete_status, *logins = await asyncio.gather(delete(), *(login(i * 0.012) for i in range(24)))
    assert delete_status == 204
    assert set(logins) <= {200, 401}, Counter(logins)
    users = await _fetchval(database_url, "SELECT count(*) FROM users WHERE lower(email) = lower($1)", user["email"])
    sessions = await _fetchval(database_url, "SELECT count(*) FROM sessions WHERE user_id = $1", uuid.UUID(user["id"]))
    assert (users, sessions) == (0, 0)


async def test_a_profile_save_during_a_password_change_never_brings_the_old_password_back(
    settings: Settings, database_url: str
) -> None:
    """An auto-saving client PATCHes the profile while the password change hashes the new password: the save
    must not write the old hash back after the change commits."""
    hasher = GatedHasher(cheap_hasher())
    async with serving(settings, hasher=hasher) as svc:
        user, headers = await svc.signed_in_user()
        hasher.arm("hash", NEW_PASSWORD)
        change = asyncio.create_task(
            svc.client.post(
                "/users/me/password",
                headers=headers,
                json={"current_password": STRONG_PASSWORD, "new_password": NEW_PASSWORD},
            )
        )
        await asyncio.wait_for(hasher.wait_for_entries("hash", NEW_PASSWORD, 1), 30)
        save = asyncio.create_task(svc.client.patch("/users/me", headers=headers, json={"bio": "autosaved"}))
        await asyncio.wait_for(_finished_or_waiting_on_a_row_lock(save, database_url), 30)
        hasher.open()
        assert (await change).status_code == 204
        assert (await save).status_code == 200

        old = await svc.client.post("/auth/login", json={"email": user["email"], "password": STRONG_PASSWORD})
        assert old.status_code == 401, "the profile save brought the old password back"
        await svc.login(user["email"], NEW_PASSWORD)
        assert (await svc.client.get("/users/me", headers=headers)).json()["bio"] == "autosaved"


async def _finished_or_waiting_on_a_row_lock(request: asyncio.Task[Any], database_url: str) -> None:
    while not request.done():
        waiting = await _fetchval(
            database_url,
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        if waiting:
            return
        await asyncio.sleep(0.01)
