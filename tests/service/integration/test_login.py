import asyncio

from auth_service.adapters.security.hashing import make_context
from auth_service.application.ports import AuthEvent
from auth_service.settings import Settings
from tests.service.integration.helpers import assert_problem, query
from tests.support.app import STRONG_PASSWORD, Service, bearer, serving, unique_email, with_settings


async def test_json_login_returns_a_token_pair(service: Service) -> None:
    user = await service.register()
    tokens = await service.login(user["email"].upper())  # case-insensitive email
    assert set(tokens) == {"access_token", "refresh_token", "token_type", "expires_in", "device_token"}
    assert tokens["token_type"] == "bearer" and tokens["expires_in"] == 900
    assert len(tokens["refresh_token"]) >= 43  # 256 bits, base64url
    assert AuthEvent.LOGIN_SUCCESS in service.metrics.events


async def test_oauth2_password_grant_form_login_as_used_by_swagger(service: Service) -> None:
    user = await service.register()
    response = await service.client.post(
        "/auth/login", data={"grant_type": "password", "username": user["email"], "password": STRONG_PASSWORD}
    )
    assert response.status_code == 200, response.text
    me = await service.client.get("/users/me", headers=bearer(response.json()["access_token"]))
    assert me.status_code == 200
    bad_grant = await service.client.post(
        "/auth/login", data={"grant_type": "client_credentials", "username": user["email"], "password": STRONG_PASSWORD}
    )
    assert_problem(bad_grant, 422, "validation_error")


async def test_token_responses_are_not_cacheable(service: Service) -> None:
    user = await service.register()
    response = await service.client.post("/auth/login", json={"email": user["email"], "password": STRONG_PASSWORD})
    assert response.headers["cache-control"] == "no-store"


async def test_unknown_email_and_wrong_password_are_indistinguishable(service: Service) -> None:
    user = await service.register()
    wrong = await service.client.post("/auth/login", json={"email": user["email"], "password": "Wrong-Password-1"})
    unknown = await service.client.post("/auth/login", json={"email": unique_email(), "password": "Wrong-Password-1"})
    garbage = await service.client.post("/auth/login", json={"email": "no at sign", "password": "Wrong-Password-1"})
    for response in (wrong, unknown, garbage):
        assert_problem(response, 401, "invalid_credentials")
    assert wrong.content == unknown.content == garbage.content
    assert {k for k in wrong.headers if k != "x-request-id" and k != "date"} == {
        k for k in unknown.headers if k != "x-request-id" and k != "date"
    }


async def test_login_attempts_are_audited_without_secrets(service: Service) -> None:
    user = await service.register()
    await service.client.post(
        "/auth/login",
        json={"email": user["email"], "password": "Wrong-Password-1"},
        headers={"user-agent": "pytest-agent"},
    )
    await service.login(user["email"])
    rows = await query(
        service.settings,
        "SELECT event_type, details, host(ip) AS ip, user_agent FROM audit_events WHERE user_id = :id ORDER BY id",
        id=user["id"],
    )
    assert [r.event_type for r in rows] == ["registered", "login_failed", "login_succeeded"]
    assert rows[1].details == {"reason": "wrong_password"} and rows[1].ip == "203.0.113.7"
    assert rows[1].user_agent == "pytest-agent"
    dump = await query(service.settings, "SELECT audit_events::text AS row_text FROM audit_events")
    assert not any("Wrong-Password-1" in r.row_text or STRONG_PASSWORD in r.row_text for r in dump)


async def test_failed_logins_back_off_then_answer_429_with_retry_after(service: Service) -> None:
    user = await service.register()
    bad = {"email": user["email"], "password": "Wrong-Password-1"}
    free = service.settings.login_free_failures_before_backoff
    for _ in range(free):
        assert (await service.client.post("/auth/login", json=bad)).status_code == 401
    throttled = await service.client.post("/auth/login", json=bad)
    assert_problem(throttled, 429, "login_throttled")
    assert int(throttled.headers["retry-after"]) >= 1
    # Even the right password waits: the throttle is decided before any verification.
    right = await service.client.post("/auth/login", json={"email": user["email"], "password": STRONG_PASSWORD})
    assert right.status_code == 429
    assert AuthEvent.LOGIN_THROTTLED in service.metrics.events


async def test_unknown_emails_are_throttled_exactly_like_real_ones(service: Service) -> None:
    bad = {"email": unique_email(), "password": "Wrong-Password-1"}
    statuses = [
        (await service.client.post("/auth/login", json=bad)).status_code
        for _ in range(service.settings.login_free_failures_before_backoff + 1)
    ]
    assert statuses[-1] == 429 and set(statuses[:-1]) == {401}


async def test_hard_limit_per_account_per_hour(settings: Settings) -> None:
    limited = with_settings(settings, login_max_failures_per_account_per_hour=3, login_free_failures_before_backoff=100)
    async with serving(limited) as svc:
        user = await svc.register()
        svc.client.cookies.clear()  # from unknown devices: the account's shared budget
        bad = {"email": user["email"], "password": "Wrong-Password-1"}
        statuses = [(await svc.client.post("/auth/login", json=bad)).status_code for _ in range(4)]
        assert statuses == [401, 401, 401, 429]
        retry_after = int((await svc.client.post("/auth/login", json=bad)).headers["retry-after"])
        assert 3500 <= retry_after <= 3600


async def test_per_ip_limit_across_accounts(settings: Settings) -> None:
    limited = with_settings(
        settings, login_max_failures_per_ip_per_hour=4, redis_key_prefix=settings.redis_key_prefix + "ip-test:"
    )
    async with serving(limited) as svc:
        statuses = [
            (
                await svc.client.post("/auth/login", json={"email": unique_email(), "password": "Wrong-Password-1"})
            ).status_code
            for _ in range(5)
        ]
        assert statuses == [401, 401, 401, 401, 429]


async def test_client_ip_comes_from_x_forwarded_for_behind_the_alb(settings: Settings) -> None:
    async with serving(with_settings(settings, trusted_proxy_count=1)) as svc:
        user = await svc.register()
        await svc.login(user["email"], **{"x-forwarded-for": "6.6.6.6, 198.51.100.23"})
        rows = await query(settings, "SELECT host(ip) AS ip FROM sessions WHERE user_id = :id", id=user["id"])
        assert [r.ip for r in rows] == ["198.51.100.23"]


async def test_a_successful_login_upgrades_an_outdated_hash(service: Service) -> None:
    user = await service.register()
    outdated = make_context(memory_kib=8192, time_cost=1).hash(STRONG_PASSWORD)
    await query(
        service.settings, "UPDATE users SET password_hash = :h WHERE id = :id RETURNING id", h=outdated, id=user["id"]
    )
    await service.login(user["email"])
    rows = await query(service.settings, "SELECT password_hash FROM users WHERE id = :id", id=user["id"])
    assert rows[0].password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")


async def test_concurrent_logins_each_get_their_own_session(service: Service) -> None:
    user = await service.register()
    results = await asyncio.gather(*(service.login(user["email"]) for _ in range(5)))
    assert len({r["refresh_token"] for r in results}) == 5
    rows = await query(service.settings, "SELECT count(*) AS n FROM sessions WHERE user_id = :id", id=user["id"])
    assert rows[0].n == 5
