"""Refresh tokens that name their session and generation, authenticated by an HMAC, with derived successors.

Format: `rt2.` + base64url(session id (16 bytes) | generation (8) | secret (32) | tag (16)), 100 characters.
The first token of a session has a random secret (256 bits from a CSPRNG); the successor of a token is
HMAC(key, token) — deterministic, so a retried or racing rotation yields the very same token while the
database keeps only the current token's SHA-256. The tag (HMAC over session, generation and secret) proves
that any earlier token presented again was issued here, so reuse of any older generation can be detected
without a row per token, and a made-up token naming someone's session can never revoke it.

The key is derived (HKDF-SHA256) from the JWT signing key, so no new secret is needed. Rotating that key ends
every refresh token in this format: their tags no longer verify, and the clients log in again.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import struct
from uuid import UUID

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from auth_service.adapters.security.tokens import PrivateKey
from auth_service.application.ports import RefreshTokenClaims

PREFIX = "rt2."
_SECRET_BYTES = 32
_TAG_BYTES = 16
_LAYOUT = struct.Struct(f">16sQ{_SECRET_BYTES}s{_TAG_BYTES}s")
_ENCODED_LENGTH = len(PREFIX) + (_LAYOUT.size * 4 + 2) // 3


def refresh_key_from(private_key: PrivateKey) -> bytes:
    """The refresh-token key: HKDF over the signing key's PKCS#8 bytes, with a purpose of its own."""
    material = private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"aidlc-auth refresh tokens v2").derive(material)


class HmacRefreshTokenCodec:
    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("the refresh-token key needs at least 256 bits")
        self._key = key

    def _mac(self, purpose: bytes, *parts: bytes) -> bytes:
        return hmac.new(self._key, purpose + b"\x00" + b"".join(parts), hashlib.sha256).digest()

    def _encode(self, session_id: UUID, generation: int, secret: bytes) -> str:
        tag = self._mac(b"tag", session_id.bytes, generation.to_bytes(8, "big"), secret)[:_TAG_BYTES]
        raw = _LAYOUT.pack(session_id.bytes, generation, secret, tag)
        return PREFIX + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    def first(self, session_id: UUID) -> str:
        return self._encode(session_id, 0, secrets.token_bytes(_SECRET_BYTES))

    def successor(self, token: str, session_id: UUID, generation: int) -> str:
        secret = self._mac(b"successor", token.encode("utf-8", "surrogatepass"))
        return self._encode(session_id, generation, secret)

    def read(self, token: str) -> RefreshTokenClaims | None:
        if len(token) != _ENCODED_LENGTH or not token.startswith(PREFIX):
            return None
        try:
            raw = base64.b64decode(token[len(PREFIX) :], altchars=b"-_", validate=True)  # 72 bytes: no padding
        except (binascii.Error, ValueError):
            return None
        if len(raw) != _LAYOUT.size:
            return None
        session_bytes, generation, secret, tag = _LAYOUT.unpack(raw)
        expected = self._mac(b"tag", session_bytes, generation.to_bytes(8, "big"), secret)[:_TAG_BYTES]
        if not hmac.compare_digest(tag, expected):
            return None
        return RefreshTokenClaims(UUID(bytes=session_bytes), generation)

    def access_token_id(self, refresh_token: str) -> str:
        return self._mac(b"jti", refresh_token.encode("utf-8", "surrogatepass"))[:16].hex()
