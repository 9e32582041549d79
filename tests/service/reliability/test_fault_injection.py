"""Fault injection: the service as a real subprocess on its own throwaway Redis and PostgreSQL, which the tests
crash and restart under traffic. The service is never restarted; it has to recover on its own.

Promises checked: readiness 503 naming the dependency; requests that need it answer 503 problem+json (never
500); authenticated reads keep working from PostgreSQL while Redis is down; a revoked session is never
accepted (not even after Redis comes back empty); no user or session is lost; recovery without a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import httpx
import pytest

from tests.support.secrets_ledger import SecretsLedger
from tests.support.servers import PostgresServer, RedisServer, ServiceProcess, missing_binary, skip_or_fail_in_ci

PASSWORD = "Harbour-Cobalt-Meadow-58"
PROBLEM_JSON = "application/problem+json"


@pytest.fixture(scope="module")
def stack(signing_key: str) -> Iterator[tuple[ServiceProcess, RedisServer, PostgresServer]]:
    for kind in ("redis", "postgres"):
        if reason := missing_binary(kind):
            skip_or_fail_in_ci(f"fault injection needs {reason}")
    redis = RedisServer().start()
    postgres = PostgresServer().init().start()
    service = ServiceProcess(
        {
            "DATABASE_URL": postgres.url,
            "DB_SSLMODE": "disable",
            "REDIS_URL": redis.url,
            "JWT_PRIVATE_KEY": signing_key,
            "LOG_LEVEL": "DEBUG",
            "LOGIN_MAX_FAILURES_PER_IP_PER_HOUR": "100000",
            "LOGIN_MAX_ATTEMPTS_PER_IP_PER_HOUR": "100000",
            "REGISTRATION_MAX_PER_IP_PER_HOUR": "100000",
            # The background traffic logs one account in over and over; the session cap (20) would evict the
            # session the tests check afterwards (the cap has tests of its own).
            "MAX_SESSIONS_PER_ACCOUNT": "100000",
            "DB_POOL_SIZE": "5",
            # The refused-login test needs a refusal that lasts through a PostgreSQL restart: the account cap (an
            # hour) rather than the backoff (1 s after the free failures). No other test here guesses wrong.
            "LOGIN_MAX_FAILURES_PER_ACCOUNT_PER_HOUR": "5",
            "THROTTLE_AUDIT_FLUSH_SECONDS": "0.5",
        }
    )
    try:
        service.start()
        yield service, redis, postgres
    finally:
        service.close()
        postgres.close()
        redis.close()


@pytest.fixture
async def client(stack: tuple[ServiceProcess, RedisServer, PostgresServer]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack[0].base_url, timeout=15) as http:
        yield http


class Accounts:
    """Users and sessions the test created, to prove afterwards that none was lost."""

    def __init__(self, http: httpx.AsyncClient, ledger: SecretsLedger) -> None:
        self.http = http
        self.ledger = ledger
        self.user_ids: set[str] = set()
        self.session_ids: set[str] = set()
        ledger.add("password", PASSWORD)

    async def register(self) -> str:
        email = f"fault-{uuid.uuid4().hex[:10]}@example.com"
        response = await self.http.post(
            "/auth/register", json={"email": email, "password": PASSWORD, "display_name": "Fault"}
        )
        assert response.status_code == 201, response.text
        self.user_ids.add(response.json()["id"])
        return email

    async def login(self, email: str) -> dict[str, Any]:
        response = await self.http.post("/auth/login", json={"email": email, "password": PASSWORD})
        assert response.status_code == 200, response.text
        tokens = response.json()
        self.ledger.add_tokens(tokens)
        sessions = await self.http.get("/auth/sessions", headers=auth(tokens))
        assert sessions.status_code == 200, sessions.text
        self.session_ids.add(next(s["id"] for s in sessions.json() if s["current"]))
        return tokens  # type: ignore[no-any-return]

    async def assert_nothing_lost(self, postgres: PostgresServer) -> None:
        connection = await asyncpg.connect(postgres.url)
        try:
            users = {str(r["id"]) for r in await connection.fetch("SELECT id FROM users")}
            sessions = {str(r["id"]) for r in await connection.fetch("SELECT id FROM sessions")}
        finally:
            await connection.close()
        assert self.user_ids <= users, self.user_ids - users
        assert self.session_ids <= sessions, self.session_ids - sessions


def auth(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["code"] == "dependency_unavailable"


async def wait_until(check: Any, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if await check():
            return
        assert time.monotonic() < deadline, "no recovery within the time limit"
        await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def background_traffic(
    http: httpx.AsyncClient, email: str, tokens: dict[str, Any]
) -> AsyncIterator[Counter[int]]:
    """Logins and authenticated reads in a loop while the fault happens; every status is counted."""
    statuses: Counter[int] = Counter()
    stop = asyncio.Event()

    async def loop() -> None:
        while not stop.is_set():
            for request in (
                http.get("/users/me", headers=auth(tokens)),
                http.post("/auth/login", json={"email": email, "password": PASSWORD}),
                http.get("/health/ready"),
            ):
                response = await request
                statuses[response.status_code] += 1
                assert response.status_code < 500 or response.headers["content-type"] == PROBLEM_JSON

    task = asyncio.create_task(loop())
    try:
        yield statuses
    finally:
        stop.set()
        await task


async def test_redis_crash_and_return(client: httpx.AsyncClient, stack: Any, secrets_ledger: SecretsLedger) -> None:
    _, redis, postgres = stack
    accounts = Accounts(client, secrets_ledger)
    email = await accounts.register()
    active = await accounts.login(email)
    revoked = await accounts.login(email)
    assert (await client.get("/users/me", headers=auth(active))).status_code == 200  # cached in Redis now
    assert (await client.get("/users/me", headers=auth(revoked))).status_code == 200
    assert (await client.post("/auth/logout", headers=auth(revoked))).status_code == 204  # tombstone + row

    async with background_traffic(client, email, active) as statuses:
        await asyncio.sleep(0.3)
        redis.kill()
        await asyncio.sleep(1.5)
    assert statuses[503] > 0 and statuses[200] > 0 and 500 not in statuses, statuses

    ready = await client.get("/health/ready")
    assert ready.status_code == 503 and ready.json()["failed"] == ["redis"], ready.text
    assert_unavailable(await client.post("/auth/login", json={"email": email, "password": PASSWORD}))
    assert_unavailable(await client.post("/auth/logout", headers=auth(active)))  # cannot write the tombstone
    me = await client.get("/users/me", headers=auth(active))
    assert me.status_code == 200 and me.json()["email"] == email  # from PostgreSQL
    assert (await client.get("/users/me", headers=auth(revoked))).status_code == 401
    assert (await client.post("/auth/refresh", json={"refresh_token": revoked["refresh_token"]})).status_code == 401
    during = await accounts.register()  # registration needs only PostgreSQL

    redis.start()  # same port, empty: every tombstone and cached session state is gone

    async def ready_again() -> bool:
        return (await client.get("/health/ready")).status_code == 200

    await wait_until(ready_again)
    await wait_until(lambda: _login_ok(client, email))
    await accounts.login(during)
    assert (await client.get("/users/me", headers=auth(revoked))).status_code == 401  # PostgreSQL still says no
    assert (await client.get("/users/me", headers=auth(active))).status_code == 200
    await accounts.assert_nothing_lost(postgres)


async def _login_ok(client: httpx.AsyncClient, email: str) -> bool:
    response = await client.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code in (200, 503), response.text
    return response.status_code == 200


async def test_postgres_restart(client: httpx.AsyncClient, stack: Any, secrets_ledger: SecretsLedger) -> None:
    _, _, postgres = stack
    accounts = Accounts(client, secrets_ledger)
    email = await accounts.register()
    tokens = await accounts.login(email)
    revoked = await accounts.login(email)
    assert (await client.post("/auth/logout", headers=auth(revoked))).status_code == 204

    async with background_traffic(client, email, tokens) as statuses:
        await asyncio.sleep(0.3)
        await asyncio.to_thread(postgres.stop, "fast")  # ends every connection, like a reboot or failover
        await asyncio.sleep(1.0)

        ready = await client.get("/health/ready")
        assert ready.status_code == 503 and ready.json()["failed"] == ["postgresql"], ready.text
        assert_unavailable(await client.post("/auth/login", json={"email": email, "password": PASSWORD}))
        register = await client.post(
            "/auth/register",
            json={"email": f"x-{uuid.uuid4().hex[:8]}@example.com", "password": PASSWORD, "display_name": "X"},
        )
        assert_unavailable(register)
        assert_unavailable(await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]}))
        # Reads may be answered from the Redis caches, or refused; a revoked session is refused either way.
        assert (await client.get("/users/me", headers=auth(tokens))).status_code in (200, 503)
        assert (await client.get("/users/me", headers=auth(revoked))).status_code == 401

        await asyncio.to_thread(postgres.start)
        await asyncio.sleep(0.5)
    assert statuses[503] > 0 and 500 not in statuses, statuses

    async def ready_again() -> bool:
        return (await client.get("/health/ready")).status_code == 200

    await wait_until(ready_again)
    await wait_until(lambda: _login_ok(client, email))
    assert (await client.get("/users/me", headers=auth(tokens))).status_code == 200
    assert (await client.get("/users/me", headers=auth(revoked))).status_code == 401
    refreshed = await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    secrets_ledger.add_tokens(refreshed.json())
    await accounts.assert_nothing_lost(postgres)


async def test_a_refusal_is_answered_while_postgres_is_down_and_audited_once_it_is_back(
    client: httpx.AsyncClient, stack: Any
) -> None:
    """A login the limiter refuses needs nothing from PostgreSQL: 429, not 503, during the outage; the refusals
    counted meanwhile are written by a flush after PostgreSQL returns."""
    _, _, postgres = stack
    email = f"refused-{uuid.uuid4().hex[:10]}@example.com"
    wrong = {"email": email, "password": "Wrong-Password-1"}
    while (response := await client.post("/auth/login", json=wrong)).status_code == 401:
        pass  # the account's free failures, then the backoff
    assert response.status_code == 429, response.text
    await asyncio.to_thread(postgres.stop, "fast")
    try:
        during_outage = [await client.post("/auth/login", json=wrong) for _ in range(3)]
    finally:
        await asyncio.to_thread(postgres.start)
    assert [r.status_code for r in during_outage] == [429, 429, 429], [r.text for r in during_outage]
    assert during_outage[0].json()["code"] == "login_throttled"

    async def all_four_audited() -> bool:
        try:
            connection = await asyncpg.connect(postgres.url)
        except (OSError, asyncpg.PostgresError):
            return False  # still starting
        try:
            counted = await connection.fetchval(
                "SELECT coalesce(sum((details->>'count')::int), 0) FROM audit_events "
                "WHERE event_type = 'login_throttled' AND details->>'account_key' = $1",
                _account_key(email),
            )
        finally:
            await connection.close()
        return bool(counted == 4)

    await wait_until(all_four_audited)


def _account_key(email: str) -> str:
    from auth_service.application.guesses import account_key
    from auth_service.domain.values import Email

    return account_key(Email(email))


def test_fault_logs_hold_no_secrets(stack: Any, secrets_ledger: SecretsLedger) -> None:
    """Error paths log the most (exceptions, SQL); none of it may carry a secret."""
    output = stack[0].output()
    assert "dependency unavailable" in output  # the outages above were logged
    assert not secrets_ledger.found_in(output)
