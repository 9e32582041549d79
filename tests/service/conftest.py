"""Fixtures for the service tests: a throwaway database and Redis namespace per run, real servers only."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from auth_service.adapters.postgres.database import create_engine, migrate
from auth_service.adapters.security.tokens import generate_private_key_pem
from auth_service.application.ports import AuthEvent
from auth_service.bootstrap import create_app
from auth_service.settings import Settings
from devenv.database_admin import create_database, drop_database
from devenv.services import admin_postgres_url, redis_url, with_database

STRONG_PASSWORD = "Gorilla-Marmalade-Tundra-42"


@pytest.fixture(scope="session")
def admin_url() -> str:
    return admin_postgres_url()


@pytest.fixture(scope="session")
def redis_base_url() -> str:
    return redis_url()


@pytest.fixture(scope="session")
async def database_url(admin_url: str) -> AsyncIterator[str]:
    name = f"auth_test_{uuid.uuid4().hex[:10]}"
    await create_database(admin_url, name)
    url = with_database(admin_url, name)
    engine = create_engine(Settings(database_url=url).sqlalchemy_url(), sslmode="prefer", pool_size=1)
    await migrate(engine)
    await engine.dispose()
    yield url
    await drop_database(admin_url, name)


@pytest.fixture(scope="session")
def signing_key() -> str:
    return generate_private_key_pem()


@pytest.fixture(scope="session")
def redis_prefix() -> str:
    return f"test-{uuid.uuid4().hex[:10]}:"


@pytest.fixture(scope="session", autouse=True)
async def _clean_redis_namespace(redis_base_url: str, redis_prefix: str) -> AsyncIterator[None]:
    yield
    client = Redis.from_url(redis_base_url)
    keys = [key async for key in client.scan_iter(match=f"{redis_prefix}*", count=500)]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
def settings(database_url: str, redis_base_url: str, redis_prefix: str, signing_key: str) -> Settings:
    return Settings(
        database_url=database_url,
        redis_url=redis_base_url,
        redis_key_prefix=redis_prefix,
        jwt_private_key=signing_key,
        environment="local",
        login_max_failures_per_ip_per_hour=100_000,  # tests share one client IP
        login_max_attempts_per_ip_per_hour=100_000,
        registration_max_per_ip_per_hour=100_000,
        db_pool_size=5,
    )


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

    async def register(self, email: str | None = None, password: str = STRONG_PASSWORD,
                       display_name: str = "Test User") -> dict[str, Any]:
        email = email or unique_email()
        response = await self.client.post("/auth/register", json={
            "email": email, "password": password, "display_name": display_name})
        assert response.status_code == 201, response.text
        return {**response.json(), "password": password}

    async def login(self, email: str, password: str = STRONG_PASSWORD, **headers: str) -> dict[str, Any]:
        response = await self.client.post("/auth/login", json={"email": email, "password": password},
                                          headers=headers)
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
async def serving(settings: Settings, **overrides: Any) -> AsyncIterator[Service]:
    """The app built from `settings` (keyword arguments replace adapters), with its lifespan and a client."""
    metrics = overrides.pop("metrics", None) or RecordingMetrics()
    app = create_app(settings, metrics=metrics, **overrides)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=transport, base_url="http://testserver"
    ) as client:
        yield Service(app=app, client=client, settings=settings, metrics=metrics)


@pytest.fixture
async def service(settings: Settings) -> AsyncIterator[Service]:
    async with serving(settings) as svc:
        yield svc

