"""No secret in any log line: passwords, access and refresh tokens, the signing key, Authorization values.

Two captures of a full flow (register, both login forms, wrong logins, reads, profile change, refresh, refresh
reuse, bad tokens, validation errors echoing a password, password change, logout, deletion):
- the real subprocess at LOG_LEVEL=DEBUG (its stdout is what CloudWatch would get) -- the same process the fuzz
  test drove, so its traffic is scanned too;
- in-process with caplog at DEBUG, checking the raw records (message, arguments, extras, exception text)
  before the JSON formatter's scrubbing, so a leak is caught even where the last-resort scrubber would hide it.
"""

from __future__ import annotations

import json
import logging
import uuid

import httpx
import pytest

from auth_service.logs import _STANDARD_ATTRS
from auth_service.settings import Settings
from tests.support.app import serving
from tests.support.secrets_ledger import SecretsLedger
from tests.support.servers import ServiceProcess

FIRST_PASSWORD = "Velvet-Compass-Glacier-31"
SECOND_PASSWORD = "Orchid-Tambourine-Fjord-64"
FORGED_BEARER = "forged-" + uuid.uuid4().hex  # an Authorization value that is not even a JWT


async def full_flow(http: httpx.AsyncClient, ledger: SecretsLedger) -> None:
    email = f"logs-{uuid.uuid4().hex[:10]}@example.com"
    for secret in (FIRST_PASSWORD, SECOND_PASSWORD, FORGED_BEARER):
        ledger.add("password or header value", secret)

    async def expect(status: int, response: httpx.Response) -> httpx.Response:
        assert response.status_code == status, response.text
        return response

    await expect(
        201,
        await http.post("/auth/register", json={"email": email, "password": FIRST_PASSWORD, "display_name": "Logs"}),
    )
    await expect(
        409,
        await http.post("/auth/register", json={"email": email, "password": FIRST_PASSWORD, "display_name": "Logs"}),
    )
    # A body that fails validation while carrying a password (extra field, too-long password).
    await expect(
        422,
        await http.post(
            "/auth/register",
            json={"email": email, "password": FIRST_PASSWORD * 50, "display_name": "Logs", "x": FIRST_PASSWORD},
        ),
    )
    await expect(401, await http.post("/auth/login", json={"email": email, "password": SECOND_PASSWORD}))
    await expect(401, await http.post("/auth/login", json={"email": FIRST_PASSWORD, "password": FIRST_PASSWORD}))
    tokens = (
        await expect(200, await http.post("/auth/login", json={"email": email, "password": FIRST_PASSWORD}))
    ).json()
    form = (
        await expect(
            200,
            await http.post(
                "/auth/login", data={"username": email, "password": FIRST_PASSWORD, "grant_type": "password"}
            ),
        )
    ).json()
    for pair in (tokens, form):
        ledger.add_tokens(pair)
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    await expect(200, await http.get("/users/me", headers=headers))
    await expect(200, await http.patch("/users/me", headers=headers, json={"bio": "hello"}))
    await expect(200, await http.get("/auth/sessions", headers=headers))
    await expect(401, await http.get("/users/me", headers={"Authorization": f"Bearer {FORGED_BEARER}"}))
    await expect(401, await http.get("/users/me", headers={"Authorization": f"Bearer {tokens['refresh_token']}"}))
    await expect(401, await http.get("/users/me", headers={"Authorization": f"Bearer {tokens['access_token']}x"}))
    rotated = (
        await expect(200, await http.post("/auth/refresh", json={"refresh_token": form["refresh_token"]}))
    ).json()
    ledger.add_tokens(rotated)
    retried = await expect(200, await http.post("/auth/refresh", json={"refresh_token": form["refresh_token"]}))
    assert retried.json()["refresh_token"] == rotated["refresh_token"]  # a retry inside the grace window
    newest = (
        await expect(200, await http.post("/auth/refresh", json={"refresh_token": rotated["refresh_token"]}))
    ).json()
    ledger.add_tokens(newest)
    await expect(401, await http.post("/auth/refresh", json={"refresh_token": form["refresh_token"]}))  # reuse
    await expect(
        401,
        await http.post(
            "/users/me/password",
            headers=headers,
            json={"current_password": SECOND_PASSWORD, "new_password": FIRST_PASSWORD},
        ),
    )
    await expect(
        204,
        await http.post(
            "/users/me/password",
            headers=headers,
            json={"current_password": FIRST_PASSWORD, "new_password": SECOND_PASSWORD},
        ),
    )
    await expect(204, await http.post("/auth/logout", headers=headers))
    again = (
        await expect(200, await http.post("/auth/login", json={"email": email, "password": SECOND_PASSWORD}))
    ).json()
    ledger.add_tokens(again)
    await expect(
        204,
        await http.request(
            "DELETE",
            "/users/me",
            json={"password": SECOND_PASSWORD},
            headers={"Authorization": f"Bearer {again['access_token']}"},
        ),
    )


def _raw_text(record: logging.LogRecord) -> str:
    """Everything a handler could print from this record, unscrubbed."""
    extras = {k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS}
    parts = [str(record.msg), repr(record.args), record.getMessage(), json.dumps(extras, default=str)]
    if record.exc_info:
        parts.append(logging.Formatter().formatException(record.exc_info))
    return "\n".join(parts)


async def test_live_service_debug_logs_hold_no_secret(
    live_service: ServiceProcess, secrets_ledger: SecretsLedger
) -> None:
    async with httpx.AsyncClient(base_url=live_service.base_url, timeout=15) as http:
        await full_flow(http, secrets_ledger)
    output = live_service.output()
    lines = output.splitlines()
    assert sum('"path": "/auth/login"' in line for line in lines) >= 4  # the flow was logged, at DEBUG
    assert any('"level": "DEBUG"' in line for line in lines)
    assert not secrets_ledger.found_in(output), secrets_ledger.found_in(output)
    assert "$argon2" not in output  # nor a password hash
    print(f"\nscanned {len(lines)} log lines of the live service against {len(secrets_ledger.values)} secrets")


async def test_in_process_log_records_hold_no_secret(settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    ledger = SecretsLedger()
    ledger.add("private key", settings.jwt_private_key.get_secret_value() if settings.jwt_private_key else None)
    caplog.set_level(logging.DEBUG)
    async with serving(settings) as svc:
        await full_flow(svc.client, ledger)
    assert any(r.name == "auth_service.access" for r in caplog.records)
    raw = "\n".join(_raw_text(r) for r in caplog.records)
    assert not ledger.found_in(raw), ledger.found_in(raw)
    assert "$argon2" not in raw
