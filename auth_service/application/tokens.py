"""What a login or refresh hands back, and the refresh tokens behind it."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

REFRESH_TOKEN_BYTES = 32  # 256 bits from a CSPRNG


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int


def new_refresh_token() -> tuple[str, bytes]:
    token = secrets.token_urlsafe(REFRESH_TOKEN_BYTES)
    return token, hash_refresh_token(token)


def hash_refresh_token(token: str) -> bytes:
    # The token has 256 bits of entropy, so a fast unsalted hash is enough to make the stored value useless.
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
