"""Fixtures for the service tests: a throwaway database and Redis namespace per run, real servers only."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from auth_service.adapters.security.tokens import generate_private_key_pem
from auth_service.settings import Settings
from devenv.services import admin_postgres_url, redis_url
from tests.support.app import Service, migrated_database, serving


@pytest.fixture(scope="session")
def admin_url() -> str:
    return admin_postgres_url()


@pytest.fixture(scope="session")
def redis_base_url() -> str:
    return redis_url()


@pytest.fixture(scope="session")
async def database_url(admin_url: str) -> AsyncIterator[str]:
    async with migrated_database(admin_url, "auth_test") as url:
        yield url


@pytest.fixture(scope="session")
def signing_key() -> str:
    return generate_private_key_pem()


@pytest.fixture(scope="session")
async def redis_prefix(redis_base_url: str) -> AsyncIterator[str]:
    """This run's Redis key namespace; its keys are deleted when the run ends."""
    prefix = f"test-{uuid.uuid4().hex[:10]}:"
    yield prefix
    client = Redis.from_url(redis_base_url)
    keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=500)]
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
        purge_interval_seconds=0,  # tests/service/integration/test_retention.py runs the purge when it means to
    )


@pytest.fixture
async def service(settings: Settings) -> AsyncIterator[Service]:
    async with serving(settings) as svc:
        yield svc
