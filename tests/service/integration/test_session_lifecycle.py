"""Session lifecycle on real PostgreSQL and Redis: retried refreshes, bounded rows, the session cap, the refresh
throttle and the paginated session list."""

import asyncio
from collections import Counter
from typing import Any

import httpx

from auth_service.settings import Settings
from tests.service.integration.helpers import assert_problem, execute, query
from tests.support.app import FixedClock, Service, bearer, serving, with_settings


async def _refresh(service: Service, token: str) -> httpx.Response:
    return await service.client.post("/auth/refresh", json={"refresh_token": token})


async def _session_state(service: Service, user_id: str) -> tuple[Any, ...]:
    rows = await query(service.settings, "SELECT revoked_reason FROM sessions WHERE user_id = :id", id=user_id)
    return tuple(r.revoked_reason for r in rows)


async def test_a_retried_refresh_inside_the_grace_window_returns_the_same_pair_and_keeps_the_session(
    settings: Settings,
) -> None:
    clock = FixedClock()
    async with serving(settings, clock=clock) as service:
        user = await service.register()
        first = await service.login(user["email"])
        winner = await _refresh(service, first["refresh_token"])
        assert winner.status_code == 200, winner.text
        clock.advance(seconds=9)  # the response was lost on the way; the client retries within 10 s
        retry = await _refresh(service, first["refresh_token"])
        assert retry.status_code == 200, retry.text
        assert retry.json()["refresh_token"] == winner.json()["refresh_token"]
        # Ed25519 signatures are deterministic: the same claims give the byte-identical access token.
        assert retry.json()["access_token"] == winner.json()["access_token"]
        assert await _session_state(service, user["id"]) == (None,)
        assert (await service.client.get("/users/me", headers=bearer(retry.json()["access_token"]))).status_code == 200
        onwards = await _refresh(service, retry.json()["refresh_token"])
        assert onwards.status_code == 200, onwards.text


async def test_outside_the_grace_window_reuse_still_revokes_the_whole_session(settings: Settings) -> None:
    clock = FixedClock()
    async with serving(settings, clock=clock) as service:
        user = await service.register()
        first = await service.login(user["email"])
        winner = (await _refresh(service, first["refresh_token"])).json()
        clock.advance(seconds=11)
        assert_problem(await _refresh(service, first["refresh_token"]), 401, "refresh_token_reused")
        assert await _session_state(service, user["id"]) == ("refresh_token_reused",)
        assert_problem(await _refresh(service, winner["refresh_token"]), 401, "invalid_token")


async def test_any_earlier_token_of_the_session_presented_again_revokes_it_even_inside_the_window(
    settings: Settings,
) -> None:
    """Only the token just rotated is forgiven: one two generations back is reuse, however recent."""
    clock = FixedClock()
    async with serving(settings, clock=clock) as service:
        user = await service.register()
        chain = [(await service.login(user["email"]))["refresh_token"]]
        for _ in range(5):
            clock.advance(seconds=1)
            response = await _refresh(service, chain[-1])
            assert response.status_code == 200, response.text
            chain.append(response.json()["refresh_token"])
        assert_problem(await _refresh(service, chain[1]), 401, "refresh_token_reused")
        assert await _session_state(service, user["id"]) == ("refresh_token_reused",)
        assert_problem(await _refresh(service, chain[-1]), 401, "invalid_token")


async def test_the_grace_window_is_a_setting(settings: Settings) -> None:
    clock = FixedClock()
    async with serving(with_settings(settings, refresh_reuse_grace_seconds=0), clock=clock) as service:
        user = await service.register()
        first = await service.login(user["email"])
        assert (await _refresh(service, first["refresh_token"])).status_code == 200
        assert_problem(await _refresh(service, first["refresh_token"]), 401, "refresh_token_reused")


async def test_concurrent_refreshes_of_one_token_produce_exactly_one_new_pair(settings: Settings) -> None:
    async with serving(settings) as service:
        user = await service.register()
        tokens = await service.login(user["email"])
        responses = await asyncio.gather(*(_refresh(service, tokens["refresh_token"]) for _ in range(8)))
        assert Counter(r.status_code for r in responses) == {200: 8}, [r.text for r in responses]
        assert len({r.json()["refresh_token"] for r in responses}) == 1
        assert len({r.json()["access_token"] for r in responses}) == 1
        assert await _session_state(service, user["id"]) == (None,)


async def test_a_thousand_refreshes_leave_a_bounded_number_of_rows(settings: Settings) -> None:
    roomy = with_settings(settings, refresh_max_per_session_per_minute=100_000)
    async with serving(roomy) as service:
        user = await service.register()
        token = (await service.login(user["email"]))["refresh_token"]
        for _ in range(1000):
            response = await _refresh(service, token)
            assert response.status_code == 200, response.text
            token = response.json()["refresh_token"]
        rows = await query(
            service.settings,
            "SELECT count(*) AS n FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id WHERE s.user_id = :id",
            id=user["id"],
        )
        assert rows[0].n == 1


async def test_refresh_is_throttled_per_session(settings: Settings) -> None:
    clock = FixedClock()
    limited = with_settings(settings, refresh_max_per_session_per_minute=5)
    async with serving(limited, clock=clock) as service:
        user = await service.register()
        token = (await service.login(user["email"]))["refresh_token"]
        other = (await service.login(user["email"]))["refresh_token"]
        for _ in range(5):
            response = await _refresh(service, token)
            assert response.status_code == 200, response.text
            token = response.json()["refresh_token"]
        throttled = assert_problem(await _refresh(service, token), 429, "refresh_throttled")
        assert throttled["status"] == 429
        # Another session of the same account has its own budget; the throttled one heals with time.
        assert (await _refresh(service, other)).status_code == 200
        clock.advance(seconds=61)
        assert (await _refresh(service, token)).status_code == 200


async def test_the_session_cap_evicts_the_oldest_sessions(settings: Settings) -> None:
    async with serving(with_settings(settings, max_sessions_per_account=3)) as service:
        user = await service.register()
        logins = [await service.login(user["email"], **{"user-agent": f"device-{i}"}) for i in range(5)]
        for evicted in logins[:2]:
            assert_problem(await _refresh(service, evicted["refresh_token"]), 401, "invalid_token")
            response = await service.client.get("/users/me", headers=bearer(evicted["access_token"]))
            assert_problem(response, 401, "invalid_token")
        for kept in logins[2:]:
            assert (await service.client.get("/users/me", headers=bearer(kept["access_token"]))).status_code == 200
        listed = (await service.client.get("/auth/sessions", headers=bearer(logins[-1]["access_token"]))).json()
        assert sorted(s["user_agent"] for s in listed) == ["device-2", "device-3", "device-4"]
        reasons = await query(
            service.settings,
            "SELECT revoked_reason AS r, count(*) AS n FROM sessions WHERE user_id = :id GROUP BY 1",
            id=user["id"],
        )
        assert {row.r: row.n for row in reasons} == {None: 3, "session_limit": 2}


async def test_the_session_cap_holds_under_concurrent_logins(settings: Settings) -> None:
    capped = with_settings(
        settings,
        max_sessions_per_account=3,
        db_pool_size=10,
        trusted_proxy_count=1,
        login_free_failures_before_backoff=100,  # the racers share the client's device cookie: no backoff here
    )
    async with serving(capped) as service:
        user = await service.register()
        credentials = {"email": user["email"], "password": user["password"]}
        responses = await asyncio.gather(  # from 12 addresses, so that no per-source limit applies
            *(
                service.client.post("/auth/login", json=credentials, headers={"X-Forwarded-For": f"198.51.100.{i}"})
                for i in range(12)
            )
        )
        assert Counter(r.status_code for r in responses) == {200: 12}
        active = await query(
            service.settings,
            "SELECT count(*) AS n FROM sessions WHERE user_id = :id AND revoked_at IS NULL",
            id=user["id"],
        )
        assert active[0].n == 3


async def _insert_sessions(settings: Settings, user_id: str, count: int, start_offset_seconds: int = 0) -> None:
    await execute(
        settings,
        """
        WITH inserted AS (
            INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, idle_timeout_seconds, user_agent)
            SELECT gen_random_uuid(), CAST(:user_id AS uuid), now() - make_interval(secs => :offset + g),
                   now(), now() + interval '1 day', 86400, 'seeded-' || g
            FROM generate_series(1, :count) AS g
            RETURNING id
        ) SELECT count(*) FROM inserted
        """,
        user_id=user_id,
        count=count,
        offset=start_offset_seconds,
    )


async def _all_pages(service: Service, headers: dict[str, str], limit: int) -> list[list[dict[str, Any]]]:
    pages: list[list[dict[str, Any]]] = []
    url: str | None = f"/auth/sessions?limit={limit}"
    while url is not None:
        response = await service.client.get(url, headers=headers)
        assert response.status_code == 200, response.text
        pages.append(response.json())
        url = response.links.get("next", {}).get("url")
    return pages


async def test_sessions_are_listed_in_pages_that_are_complete(settings: Settings) -> None:
    async with serving(with_settings(settings, max_sessions_per_account=1000)) as service:
        user, headers = await service.signed_in_user()
        await _insert_sessions(service.settings, user["id"], 24)
        pages = await _all_pages(service, headers, limit=10)
        assert [len(page) for page in pages] == [10, 10, 5]
        ids = [s["id"] for page in pages for s in page]
        assert len(set(ids)) == 25
        created = [s["created_at"] for page in pages for s in page]
        assert created == sorted(created, reverse=True)
        assert sum(s["current"] for page in pages for s in page) == 1


async def test_session_pages_stay_stable_under_concurrent_logins_and_revocations(settings: Settings) -> None:
    """Every session active for the whole listing appears exactly once; a revoked one never reappears."""
    async with serving(with_settings(settings, max_sessions_per_account=1000)) as service:
        user, headers = await service.signed_in_user()
        await _insert_sessions(service.settings, user["id"], 30, start_offset_seconds=60)
        first = await service.client.get("/auth/sessions?limit=8", headers=headers)
        before = {s["id"] for s in first.json()}
        # Meanwhile: new logins (newest first, so before the cursor) and revocations of sessions not yet listed.
        for _ in range(3):
            await service.login(user["email"])
        everyone = [s["id"] for page in await _all_pages(service, headers, limit=100) for s in page]
        unlisted = [i for i in everyone if i not in before][-5:]
        for session_id in unlisted[:2]:
            assert (await service.client.delete(f"/auth/sessions/{session_id}", headers=headers)).status_code == 204
        seen = list(before)
        url: str | None = first.links["next"]["url"]
        while url is not None:
            response = await service.client.get(url, headers=headers)
            seen += [s["id"] for s in response.json()]
            url = response.links.get("next", {}).get("url")
        assert len(seen) == len(set(seen)), "a session was listed twice"
        expected = set(everyone[3:]) - set(unlisted[:2])  # the three new logins are newer than the first page
        assert set(seen) - before == expected - before
        assert not set(unlisted[:2]) & set(seen)


async def test_page_size_is_bounded_and_cursors_are_checked(service: Service) -> None:
    _, headers = await service.signed_in_user()
    for limit in ("0", "101", "x"):
        assert_problem(
            await service.client.get(f"/auth/sessions?limit={limit}", headers=headers), 422, "validation_error"
        )
    for cursor in ("not-a-cursor", "A" * 600, "%00", "A" * 31, "A" * 31 + "="):
        response = await service.client.get(f"/auth/sessions?cursor={cursor}", headers=headers)
        assert_problem(response, 422, "validation_error")


async def test_the_default_page_is_bounded(settings: Settings) -> None:
    async with serving(with_settings(settings, max_sessions_per_account=1000)) as service:
        user, headers = await service.signed_in_user()
        await _insert_sessions(service.settings, user["id"], 120)
        response = await service.client.get("/auth/sessions", headers=headers)
        assert len(response.json()) == 50
        assert "next" in response.links
