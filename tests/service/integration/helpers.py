"""Assertions shared by the integration tests."""

from typing import Any

import httpx
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from auth_service.settings import Settings


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["code"] == code
    assert {"type", "title", "detail"} <= set(body)
    return body


async def query(settings: Settings, sql: str, **params: Any) -> list[Any]:
    """Look at the database directly, to check what was (not) written."""
    engine = create_async_engine(settings.sqlalchemy_url())
    try:
        async with engine.connect() as connection:
            return list((await connection.execute(text(sql), params)).all())
    finally:
        await engine.dispose()


async def execute(settings: Settings, sql: str, **params: Any) -> None:
    """Change the database directly (committed), to set up what the API cannot make quickly."""
    engine = create_async_engine(settings.sqlalchemy_url())
    try:
        async with engine.begin() as connection:
            await connection.execute(text(sql), params)
    finally:
        await engine.dispose()


def newest_migration() -> str:
    """The head of the migration chain, read from the scripts themselves."""
    config = Config()
    config.set_main_option("script_location", "auth_service:migrations")
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head
