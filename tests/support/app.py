"""The service under test in-process: a client on the ASGI app, handles on what it was built with, and the
small helpers the tests share (a strong password, unique emails, bearer headers, a hand-moved clock).

Test modules import these from here; the conftest.py files hold only fixtures and import them too.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from auth_service.adapters.postgres.database import create_engine, migrate
from auth_service.application.ports import AuthEvent
from auth_service.bootstrap import create_app
from auth_service.settings import Settings
from devenv.database_admin import create_database, drop_database
from devenv.services import with_database

STRONG_PASSWORD = "Gorilla-Marmalade-Tundra-42"


def with_settings(settings: Settings, **changes: Any) -> Settings:
    """A validated copy (model_copy would skip validation and leave plain strings where SecretStr belongs)."""
    return Settings.model_validate({**dict(settings), **changes})


class FixedClock:
    """A clock tests move by hand, to cross idle and absolute session limits."""

    def __init__(self) -> None:
        self.current = datetime.now(UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


@dataclass
class RecordingMetrics:
    events: list[AuthEvent] = field(default_factory=list)

    def count(self, event: AuthEvent) -> None:
        self.events.append(event)


@dataclass
class Service:
    """The app under test and handles on what it was built with."""

    app: FastAPI
    client: httpx.AsyncClient
    settings: Settings
    metrics: RecordingMetrics

    async def register(
        self, email: str | None = None, password: str = STRONG_PASSWORD, display_name: str = "Test User"
    ) -> dict[str, Any]:
        email = email or unique_email()
        response = await self.client.post(
            "/auth/register", json={"email": email, "password": password, "display_name": display_name}
        )
        assert response.status_code == 201, response.text
        return {**response.json(), "password": password}

    async def login(self, email: str, password: str = STRONG_PASSWORD, **headers: str) -> dict[str, Any]:
        response = await self.client.post("/auth/login", json={"email": email, "password": password}, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    async def signed_in_user(self) -> tuple[dict[str, Any], dict[str, str]]:
        user = await self.register()
        tokens = await self.login(user["email"])
        return user, bearer(tokens["access_token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def unique_email() -> str:
    return f"user-{uuid.uuid4().hex[:12]}@example.com"


@asynccontextmanager
async def migrated_database(admin_url: str, prefix: str) -> AsyncIterator[str]:
    """A throwaway database, migrated like a deployed one; dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    await create_database(admin_url, name)
    url = with_database(admin_url, name)
    engine = create_engine(Settings(database_url=url).sqlalchemy_url(), sslmode="prefer", pool_size=1)
    try:
        await migrate(engine)
    finally:
        await engine.dispose()
    try:
        yield url
    finally:
        await drop_database(admin_url, name)


@asynccontextmanager
async def serving(settings: Settings, **overrides: Any) -> AsyncIterator[Service]:
    """The app built from `settings` (keyword arguments replace adapters), with its lifespan and a client."""
    metrics = overrides.pop("metrics", None) or RecordingMetrics()
    app = create_app(settings, metrics=metrics, **overrides)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
    ):
        yield Service(app=app, client=client, settings=settings, metrics=metrics)
