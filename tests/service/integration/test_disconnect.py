"""A client that goes away while its request body is still arriving: the request ends with a 400 (never a 500),
nothing is logged as an error, and nothing is written."""

from __future__ import annotations

import json
import logging
from collections.abc import MutableMapping
from typing import Any

import pytest
from fastapi import FastAPI

from tests.support.app import STRONG_PASSWORD, Service, unique_email
from tests.support.asgi import http_scope

JSON = b"application/json"
FORM = b"application/x-www-form-urlencoded"


async def _send_half_then_disconnect(
    app: FastAPI, method: str, path: str, body: bytes, content_type: bytes, headers: dict[str, str]
) -> list[MutableMapping[str, Any]]:
    """One ASGI request that delivers half its body (more to come), then reports `http.disconnect`."""
    sent: list[MutableMapping[str, Any]] = []
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": body[: len(body) // 2], "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if len(messages) > 1 else messages[0]

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = http_scope(method, path, body, content_type, headers)
    await app(scope, receive, send)
    return sent


def _status(sent: list[MutableMapping[str, Any]]) -> int:
    (start,) = [message for message in sent if message["type"] == "http.response.start"]
    status: int = start["status"]
    return status


def _requests(email: str, refresh_token: str) -> list[tuple[str, str, bytes, bytes]]:
    new = {"email": unique_email(), "password": STRONG_PASSWORD, "display_name": "Gone Midway"}
    return [
        ("POST", "/auth/login", json.dumps({"email": email, "password": STRONG_PASSWORD}).encode(), JSON),
        ("POST", "/auth/login", f"username={email}&password={STRONG_PASSWORD}".encode(), FORM),
        ("POST", "/auth/register", json.dumps(new).encode(), JSON),
        ("POST", "/auth/refresh", json.dumps({"refresh_token": refresh_token}).encode(), JSON),
        ("PATCH", "/users/me", json.dumps({"display_name": "Never Saved", "bio": "x" * 200}).encode(), JSON),
        (
            "POST",
            "/users/me/password",
            json.dumps({"current_password": STRONG_PASSWORD, "new_password": "Unsaved-Lantern-Quay-7"}).encode(),
            JSON,
        ),
        ("DELETE", "/users/me", json.dumps({"password": STRONG_PASSWORD}).encode(), JSON),
    ]


async def test_a_disconnect_during_any_body_read_is_a_400_and_no_error_log(
    service: Service, caplog: pytest.LogCaptureFixture
) -> None:
    user = await service.register()
    tokens = await service.login(user["email"])
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    outcomes = {}
    with caplog.at_level(logging.INFO):
        for method, path, body, content_type in _requests(user["email"], tokens["refresh_token"]):
            sent = await _send_half_then_disconnect(service.app, method, path, body, content_type, headers)
            outcomes[f"{method} {path} {content_type.decode()}"] = _status(sent)
    errors = [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]
    assert errors == []
    assert outcomes == dict.fromkeys(outcomes, 400), outcomes
    # Nothing happened: the profile, the password and the session are as they were.
    me = await service.client.get("/users/me", headers=headers)
    assert me.status_code == 200 and me.json()["display_name"] == user["display_name"]
    await service.login(user["email"])
