"""The OpenAPI document the app serves, built in process without touching any server (the app connects lazily)."""

from __future__ import annotations

from typing import Any

from auth_service.adapters.security.tokens import generate_private_key_pem
from auth_service.bootstrap import create_app
from auth_service.settings import Settings


class _NoHasher:
    async def hash(self, password: str) -> str:
        raise NotImplementedError

    async def verify(self, password: str, password_hash: str | None) -> tuple[bool, str | None]:
        raise NotImplementedError


class _NoCommonPasswords:
    def is_common(self, password: str) -> bool:
        raise NotImplementedError


def in_process_document() -> dict[str, Any]:
    app = create_app(
        Settings(database_url="postgresql://openapi@127.0.0.1:1/openapi", jwt_private_key=generate_private_key_pem()),
        hasher=_NoHasher(),
        common_passwords=_NoCommonPasswords(),
    )
    return app.openapi()
