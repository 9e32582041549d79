"""Bounded work: password hashing holds no database connection, the hashing queue has a bound past which the
service answers 503 `overloaded` at once, and no hash is computed for a client that has gone."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import MutableMapping
from typing import Any

from fastapi import FastAPI

from auth_service.adapters.security.hashing import Argon2PasswordHasher
from auth_service.settings import Settings
from tests.service.hashers import BlockingContext, GatedHasher, cheap_hasher
from tests.service.integration.helpers import assert_problem
from tests.support.app import STRONG_PASSWORD, serving, with_settings
from tests.support.asgi import http_scope

WRONG = "Wrong-Password-1"
BLOCKING = "Blocking-Passphrase-88"
GUARD_SECONDS = 30  # only against a hang; nothing below depends on how fast anything is


async def test_wrong_password_deletions_leave_the_other_endpoints_answering(settings: Settings) -> None:
    # One pooled connection plus one overflow; throttles out of the way so every deletion reaches the hasher.
    small = with_settings(
        settings,
        db_pool_size=1,
        login_free_failures_before_backoff=100_000,
        login_max_failures_per_account_per_hour=100_000,
    )
    hasher = GatedHasher(cheap_hasher())
    async with serving(small, hasher=hasher) as svc:
        _, victim = await svc.signed_in_user()
        _, bystander = await svc.signed_in_user()
        hasher.arm("verify", WRONG)  # every wrong-password check waits here until the test opens the gate
        deletions = [
            asyncio.create_task(svc.client.request("DELETE", "/users/me", headers=victim, json={"password": WRONG}))
            for _ in range(20)
        ]
        await asyncio.wait_for(hasher.wait_for_entries("verify", WRONG, 1), GUARD_SECONDS)

        ready = await svc.client.get("/health/ready")
        me = await svc.client.get("/users/me", headers=bystander)
        hasher.open()
        statuses = Counter(r.status_code for r in await asyncio.gather(*deletions))
    print(
        f"\nwhile 20 wrong-password deletions hash: readiness {ready.status_code}, other user's GET /users/me "
        f"{me.status_code}, deletions {dict(statuses)}"
    )
    assert ready.status_code == 200, ready.text
    assert me.status_code == 200, me.text
    assert statuses == {401: 20}, statuses


async def test_a_full_hash_queue_answers_503_overloaded_at_once(settings: Settings) -> None:
    context = BlockingContext(BLOCKING)
    hasher = Argon2PasswordHasher(context, concurrency=1, queue_limit=2)
    async with serving(settings, hasher=hasher) as svc:
        user = await svc.register(password=BLOCKING.replace("Blocking", "Unblocked"))
        logins = [
            asyncio.create_task(svc.client.post("/auth/login", json={"email": user["email"], "password": BLOCKING}))
            for _ in range(3)
        ]  # one hashing, one queued, one past the bound
        done, _ = await asyncio.wait(logins, timeout=GUARD_SECONDS, return_when=asyncio.FIRST_COMPLETED)
        context.released.set()
        responses = await asyncio.gather(*logins)
    assert done, "no login was refused while the hashing queue was full"
    overloaded = done.pop().result()
    assert_problem(overloaded, 503, "overloaded")
    assert int(overloaded.headers["retry-after"]) >= 1
    assert Counter(r.status_code for r in responses) == {401: 2, 503: 1}
    assert context.started[BLOCKING] == 2


async def test_no_hash_is_computed_for_a_client_that_has_gone(settings: Settings) -> None:
    context = BlockingContext(BLOCKING)
    inner = Argon2PasswordHasher(context, concurrency=1)
    hasher = GatedHasher(inner)
    async with serving(settings, hasher=hasher) as svc:
        user = await svc.register()
        occupying = asyncio.create_task(
            svc.client.post("/auth/login", json={"email": user["email"], "password": BLOCKING})
        )
        await asyncio.wait_for(hasher.wait_for_entries("verify", BLOCKING, 1), GUARD_SECONDS)

        disconnect = asyncio.Event()
        body = json.dumps({"email": user["email"], "password": STRONG_PASSWORD}).encode()
        gone = asyncio.create_task(_call_then_disconnect(svc.app, "/auth/login", body, disconnect))
        await asyncio.wait_for(hasher.wait_for_entries("verify", STRONG_PASSWORD, 1), GUARD_SECONDS)  # queued
        disconnect.set()
        await asyncio.wait({gone}, timeout=GUARD_SECONDS)
        context.released.set()
        await occupying
        await gone
        after = await svc.client.post("/auth/login", json={"email": user["email"], "password": "Another-Guess-5"})
    assert after.status_code == 401
    # Registration hashed the password once; the disconnected login's queued verify never started.
    assert context.started[STRONG_PASSWORD] == 1, context.started


async def _call_then_disconnect(app: FastAPI, path: str, body: bytes, disconnect: asyncio.Event) -> list[Any]:
    """One ASGI request whose client goes away (`http.disconnect`) when `disconnect` is set."""
    sent: list[Any] = []
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await disconnect.wait()
        return {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = http_scope("POST", path, body, b"application/json")
    await app(scope, receive, send)
    return sent
