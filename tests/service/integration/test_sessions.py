import uuid

from redis.asyncio import Redis

from auth_service.application.ports import AuthEvent
from auth_service.settings import Settings
from tests.service.integration.helpers import assert_problem, query
from tests.support.app import FixedClock, Service, bearer, serving, with_settings


async def test_refresh_rotates_the_pair_and_keeps_the_session(service: Service) -> None:
    user = await service.register()
    first = await service.login(user["email"])
    response = await service.client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert response.status_code == 200
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"] and second["access_token"] != first["access_token"]
    assert (await service.client.get("/users/me", headers=bearer(second["access_token"]))).status_code == 200
    third = await service.client.post("/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert third.status_code == 200
    rows = await query(service.settings, "SELECT count(*) AS n FROM sessions WHERE user_id = :id", id=user["id"])
    assert rows[0].n == 1


async def test_refresh_tokens_are_stored_only_as_hashes(service: Service) -> None:
    user = await service.register()
    tokens = await service.login(user["email"])
    rows = await query(service.settings, "SELECT encode(token_hash, 'hex') AS h FROM refresh_tokens")
    assert rows and all(tokens["refresh_token"] not in r.h for r in rows)
    dump = await query(service.settings, "SELECT string_agg(s::text, '') AS all_rows FROM sessions s")
    assert tokens["refresh_token"] not in (dump[0].all_rows or "")


async def test_reusing_a_rotated_refresh_token_revokes_the_whole_session(settings: Settings) -> None:
    clock = FixedClock()
    async with serving(settings, clock=clock) as service:
        await _reuse_revokes_the_whole_session(service, clock)


async def _reuse_revokes_the_whole_session(service: Service, clock: FixedClock) -> None:
    user = await service.register()
    stolen = await service.login(user["email"])
    rotated = (await service.client.post("/auth/refresh", json={"refresh_token": stolen["refresh_token"]})).json()
    clock.advance(seconds=service.settings.refresh_reuse_grace_seconds + 1)  # a retry inside it gets the same pair
    reuse = await service.client.post("/auth/refresh", json={"refresh_token": stolen["refresh_token"]})
    assert_problem(reuse, 401, "refresh_token_reused")
    assert AuthEvent.REFRESH_REUSE in service.metrics.events
    # Both the attacker's and the victim's descendants are dead now.
    assert_problem(await service.client.get("/users/me", headers=bearer(rotated["access_token"])), 401, "invalid_token")
    again = await service.client.post("/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
    assert_problem(again, 401, "invalid_token")
    audit = await query(service.settings, "SELECT event_type FROM audit_events WHERE user_id = :id", id=user["id"])
    assert "refresh_reuse_detected" in [r.event_type for r in audit]


async def test_refresh_rejects_unknown_and_access_tokens(service: Service) -> None:
    user = await service.register()
    tokens = await service.login(user["email"])
    for token in ("x" * 43, tokens["access_token"]):
        assert_problem(await service.client.post("/auth/refresh", json={"refresh_token": token}), 401, "invalid_token")


async def test_a_refresh_token_is_not_an_access_token(service: Service) -> None:
    user = await service.register()
    tokens = await service.login(user["email"])
    response = await service.client.get("/users/me", headers=bearer(tokens["refresh_token"]))
    assert_problem(response, 401, "invalid_token")
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_missing_or_malformed_authorization_is_401(service: Service) -> None:
    """No bearer token at all: `not_authenticated`, and an RFC 6750 §3.1 challenge without an error code."""
    for response in (
        await service.client.get("/users/me"),
        await service.client.get("/users/me", headers={"Authorization": "Basic Zm9vOmJhcg=="}),
        await service.client.post("/auth/logout"),
    ):
        assert_problem(response, 401, "not_authenticated")
        assert response.headers["www-authenticate"] == "Bearer"


async def test_logout_stops_the_access_token_at_once(service: Service) -> None:
    user = await service.register()
    tokens = await service.login(user["email"])
    headers = bearer(tokens["access_token"])
    assert (await service.client.get("/users/me", headers=headers)).status_code == 200  # warms the cache
    assert (await service.client.post("/auth/logout", headers=headers)).status_code == 204
    assert_problem(await service.client.get("/users/me", headers=headers), 401, "invalid_token")
    assert_problem(
        await service.client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]}),
        401,
        "invalid_token",
    )
    assert_problem(await service.client.post("/auth/logout", headers=headers), 401, "invalid_token")


async def test_revocation_survives_a_flushed_redis(service: Service) -> None:
    """Redis is only a cache: with every key gone, PostgreSQL still says the session is revoked."""
    user = await service.register()
    tokens = await service.login(user["email"])
    headers = bearer(tokens["access_token"])
    await service.client.get("/users/me", headers=headers)
    await service.client.post("/auth/logout", headers=headers)
    redis = Redis.from_url(service.settings.redis_url)  # the server the app caches in
    try:
        keys = [k async for k in redis.scan_iter(match=f"{service.settings.redis_key_prefix}*")]
        await redis.delete(*keys)
    finally:
        await redis.aclose()
    assert_problem(await service.client.get("/users/me", headers=headers), 401, "invalid_token")


async def test_revoked_sessions_stay_revoked_when_redis_is_unreachable(settings: Settings) -> None:
    offline_settings = with_settings(settings, redis_url="redis://127.0.0.1:1/0")
    async with serving(settings) as online, serving(offline_settings) as offline:
        user = await online.register()
        tokens = await online.login(user["email"])
        kept = await online.login(user["email"])
        await online.client.post("/auth/logout", headers=bearer(tokens["access_token"]))
        assert_problem(
            await offline.client.get("/users/me", headers=bearer(tokens["access_token"])), 401, "invalid_token"
        )
        # Sessions are not lost either: the other one still works, served from PostgreSQL.
        assert (await offline.client.get("/users/me", headers=bearer(kept["access_token"]))).status_code == 200


async def test_logout_all_ends_every_session(service: Service) -> None:
    user = await service.register()
    sessions = [await service.login(user["email"]) for _ in range(3)]
    assert (
        await service.client.post("/auth/logout-all", headers=bearer(sessions[0]["access_token"]))
    ).status_code == 204
    for tokens in sessions:
        assert (await service.client.get("/users/me", headers=bearer(tokens["access_token"]))).status_code == 401
    assert_problem(await service.client.post("/auth/logout-all"), 401, "not_authenticated")


async def test_list_sessions_marks_the_current_one(service: Service) -> None:
    user = await service.register()
    await service.login(user["email"], **{"user-agent": "phone"})
    current = await service.login(user["email"], **{"user-agent": "laptop"})
    response = await service.client.get("/auth/sessions", headers=bearer(current["access_token"]))
    assert response.status_code == 200
    listed = response.json()
    assert len(listed) == 2
    assert {s["user_agent"]: s["current"] for s in listed} == {"phone": False, "laptop": True}
    assert set(listed[0]) == {"id", "created_at", "last_used_at", "user_agent", "ip", "current"}
    assert listed[0]["ip"] == "203.0.113.7"
    assert (await service.client.get("/auth/sessions")).status_code == 401


async def test_revoke_one_of_own_sessions(service: Service) -> None:
    user = await service.register()
    other = await service.login(user["email"])
    current = await service.login(user["email"])
    headers = bearer(current["access_token"])
    listed = (await service.client.get("/auth/sessions", headers=headers)).json()
    other_id = next(s["id"] for s in listed if not s["current"])
    assert (await service.client.delete(f"/auth/sessions/{other_id}", headers=headers)).status_code == 204
    assert (await service.client.get("/users/me", headers=bearer(other["access_token"]))).status_code == 401
    assert (await service.client.get("/users/me", headers=headers)).status_code == 200
    assert_problem(await service.client.delete(f"/auth/sessions/{other_id}", headers=headers), 404, "session_not_found")


async def test_cannot_revoke_someone_elses_session_and_cannot_tell_it_exists(service: Service) -> None:
    _, mine = await service.signed_in_user()
    victim = await service.register()
    victim_tokens = await service.login(victim["email"])
    victim_session = (await service.client.get("/auth/sessions", headers=bearer(victim_tokens["access_token"]))).json()[
        0
    ]["id"]
    not_own = await service.client.delete(f"/auth/sessions/{victim_session}", headers=mine)
    unknown = await service.client.delete(f"/auth/sessions/{uuid.uuid4()}", headers=mine)
    assert_problem(not_own, 404, "session_not_found")
    assert not_own.content == unknown.content
    assert (await service.client.get("/users/me", headers=bearer(victim_tokens["access_token"]))).status_code == 200
    assert_problem(await service.client.delete("/auth/sessions/not-a-uuid", headers=mine), 422, "validation_error")


async def test_sessions_end_after_the_idle_timeout_and_the_absolute_lifetime(settings: Settings) -> None:
    clock = FixedClock()
    short = with_settings(settings, session_idle_timeout_seconds=600, refresh_token_ttl_seconds=1500)
    async with serving(short, clock=clock) as svc:
        user = await svc.register()
        tokens = await svc.login(user["email"])
        for _ in range(2):  # used every 9 minutes: the idle timer keeps resetting
            clock.advance(minutes=9)
            response = await svc.client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
            assert response.status_code == 200, response.text
            tokens = response.json()
        clock.advance(minutes=8)  # 26 minutes since login: past the 25-minute absolute lifetime
        assert_problem(
            await svc.client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]}),
            401,
            "invalid_token",
        )

        idle = await svc.login(user["email"])
        clock.advance(minutes=11)  # idle for longer than 10 minutes
        assert_problem(
            await svc.client.post("/auth/refresh", json={"refresh_token": idle["refresh_token"]}), 401, "invalid_token"
        )
