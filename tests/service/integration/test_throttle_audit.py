"""Every 429 is audited with the client address, without a write per 429: refusals are counted in memory and
written as one row per (event type, limit, client address, account, ...) per flush window, off the request path
(docs/operations.md, "Throttling rules"). A refused request costs no PostgreSQL statement and never waits for one."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from auth_service.application.guesses import account_key
from auth_service.domain.values import Email
from auth_service.settings import Settings
from tests.service.hashers import cheap_hasher
from tests.service.integration.helpers import assert_problem, query
from tests.support.app import FixedClock, serving, unique_email, with_settings

WRONG = "Wrong-Password-1"


def from_ip(ip: str) -> dict[str, str]:
    return {"x-forwarded-for": ip}


class StatementCounter:
    """Every statement any SQLAlchemy engine of this process sends while it is installed."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def __enter__(self) -> StatementCounter:
        event.listen(Engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *_: object) -> None:
        event.remove(Engine, "before_cursor_execute", self._count)

    def _count(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        self.statements.append(statement)


async def _throttle_rows(settings: Settings, event_type: str, email: str) -> list[Any]:
    return await query(
        settings,
        "SELECT details, host(ip) AS ip, occurred_at FROM audit_events WHERE event_type = :type "
        "AND details->>'account_key' = :key ORDER BY id",
        type=event_type,
        key=account_key(Email(email)),
    )


async def _back_off(svc: Any, email: str, ip: str) -> None:
    """Use up the account's free failures (the fixed clock never lets the backoff heal)."""
    for _ in range(svc.settings.login_free_failures_before_backoff):
        response = await svc.client.post("/auth/login", json={"email": email, "password": WRONG}, headers=from_ip(ip))
        assert response.status_code == 401, response.text


async def test_a_flood_of_refused_logins_writes_a_few_rows_whose_counts_add_up(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    configured = with_settings(settings, trusted_proxy_count=1)
    email, ip, flood = unique_email(), "198.51.100.61", 1000
    with StatementCounter() as counter:
        async with serving(configured, clock=FixedClock(), hasher=cheap_hasher()) as svc:
            await _back_off(svc, email, ip)
            before_flood = len(counter.statements)
            with caplog.at_level(logging.INFO, logger="auth_service.access"):
                responses = await asyncio.gather(
                    *(
                        svc.client.post("/auth/login", json={"email": email, "password": WRONG}, headers=from_ip(ip))
                        for _ in range(flood)
                    )
                )
            during_flood = counter.statements[before_flood:]
            assert all(r.status_code == 429 for r in responses), {r.status_code for r in responses}
            assert_problem(responses[0], 429, "login_throttled")
        at_shutdown = counter.statements[before_flood + len(during_flood) :]  # no flush was due before: 60 s
    rows = await _throttle_rows(settings, "login_throttled", email)
    print(
        f"\n{flood} refused logins: {len(during_flood)} statements on the request path, "
        f"{len(at_shutdown)} at the shutdown flush, {len(rows)} rows"
    )

    assert during_flood == []  # a 429 costs no PostgreSQL statement
    assert len(at_shutdown) == 1 and at_shutdown[0].startswith("INSERT INTO audit_events")
    assert 1 <= len(rows) == len({row.details["limit"] for row in rows})  # one row per limit that refused
    assert sum(row.details["count"] for row in rows) == flood
    assert all(row.ip == ip and row.details["first_at"] <= row.details["last_at"] for row in rows)
    # ...and each refusal is still a line of its own in the access log, with the address.
    refused = [r for r in caplog.records if r.name == "auth_service.access" and r.__dict__["status"] == 429]
    assert len(refused) == flood and {r.__dict__["client_ip"] for r in refused} == {ip}


async def test_refusals_are_written_after_the_flush_interval_without_another_request(settings: Settings) -> None:
    configured = with_settings(settings, trusted_proxy_count=1, throttle_audit_flush_seconds=0.2)
    email, ip = unique_email(), "198.51.100.62"
    async with serving(configured, clock=FixedClock(), hasher=cheap_hasher()) as svc:
        await _back_off(svc, email, ip)
        for _ in range(7):
            refused = await svc.client.post(
                "/auth/login", json={"email": email, "password": WRONG}, headers=from_ip(ip)
            )
            assert refused.status_code == 429
        rows: list[Any] = []
        for _ in range(200):  # a bound for a stuck timer, not a timing assertion
            rows = await _throttle_rows(settings, "login_throttled", email)
            if sum(row.details["count"] for row in rows) >= 7:
                break
            await asyncio.sleep(0.05)
        assert sum(row.details["count"] for row in rows) == 7


class Blackhole:
    """A TCP listener that accepts connections and never answers: PostgreSQL unreachable, the worst way."""

    def __init__(self) -> None:
        self.connections = 0
        self._held: list[asyncio.StreamWriter] = []

    async def _accept(self, _reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._held.append(writer)

    @asynccontextmanager
    async def listening(self) -> AsyncIterator[int]:
        server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        try:
            yield server.sockets[0].getsockname()[1]
        finally:
            for writer in self._held:
                writer.close()
            server.close()


async def test_a_refusal_is_answered_while_postgresql_is_unreachable(settings: Settings) -> None:
    configured = with_settings(settings, trusted_proxy_count=1)
    email, ip = unique_email(), "198.51.100.63"
    async with serving(configured, clock=(clock := FixedClock()), hasher=cheap_hasher()) as svc:
        await _back_off(svc, email, ip)  # the account is backed off in Redis
    blackhole = Blackhole()
    async with asyncio.timeout(60), blackhole.listening() as port:  # a bound for a hang, not a timing assertion
        unreachable = with_settings(
            configured, database_url=f"postgresql://postgres@127.0.0.1:{port}/auth", db_sslmode="disable"
        )
        async with serving(unreachable, clock=clock, hasher=cheap_hasher()) as svc:
            refused = await svc.client.post(
                "/auth/login", json={"email": email, "password": WRONG}, headers=from_ip(ip)
            )
            assert_problem(refused, 429, "login_throttled")
            assert blackhole.connections == 0  # answered without as much as a connection attempt
        # The shutdown flush tried, and gave up within its bound: the app stopped.
