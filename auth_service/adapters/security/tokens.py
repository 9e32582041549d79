"""Access tokens: JWTs signed with an asymmetric key (EdDSA/Ed25519 or ES256/P-256), published as a JWKS."""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import time
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from auth_service.application.ports import AccessClaims, IssuedAccessToken
from auth_service.domain.errors import InvalidToken

ACCESS_TOKEN_TYPE = "access"
CLOCK_LEEWAY_SECONDS = 5
VERIFIED_TOKEN_CACHE_SIZE = 4096
PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey


def load_private_key(pem: str) -> PrivateKey:
    key = serialization.load_pem_private_key(pem.strip().encode(), password=None)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        return key
    raise ValueError("JWT_PRIVATE_KEY must be an Ed25519 or EC P-256 private key in PEM")


def generate_private_key_pem() -> str:
    key = ed25519.Ed25519PrivateKey.generate()
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _algorithm_for(key: PrivateKey) -> str:
    return "EdDSA" if isinstance(key, ed25519.Ed25519PrivateKey) else "ES256"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _public_jwk(key: PrivateKey) -> dict[str, str]:
    public = key.public_key()
    if isinstance(public, ed25519.Ed25519PublicKey):
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        members = {"crv": "Ed25519", "kty": "OKP", "x": _b64(raw)}
    else:
        numbers = public.public_numbers()
        members = {
            "crv": "P-256",
            "kty": "EC",
            "x": _b64(numbers.x.to_bytes(32, "big")),
            "y": _b64(numbers.y.to_bytes(32, "big")),
        }
    # RFC 7638 thumbprint: the required members, sorted, no whitespace.
    thumbprint = hashlib.sha256(json.dumps(members, sort_keys=True, separators=(",", ":")).encode()).digest()
    return {**members, "kid": _b64(thumbprint), "use": "sig", "alg": _algorithm_for(key)}


class JwtTokenIssuer:
    def __init__(self, private_key: PrivateKey, *, issuer: str, audience: str, ttl_seconds: int) -> None:
        self._private_key = private_key
        self._public_key = private_key.public_key()
        self._algorithm = _algorithm_for(private_key)
        self._jwk = _public_jwk(private_key)
        self._issuer = issuer
        self._audience = audience
        self._ttl = ttl_seconds
        # A client sends the same access token with every request for 15 minutes; checking its signature once
        # per process is enough. Only successful verifications are cached (exceptions are not), keyed by the
        # exact token text, and expiry is still checked on every call.
        self._verified = functools.lru_cache(maxsize=VERIFIED_TOKEN_CACHE_SIZE)(self._verify_signature_and_claims)

    def issue(self, user_id: UUID, session_id: UUID, now: datetime, token_id: str | None = None) -> IssuedAccessToken:
        issued_at = int(now.timestamp())
        claims = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": str(user_id),
            "sid": str(session_id),
            "jti": token_id or uuid4().hex,
            "iat": issued_at,
            "exp": issued_at + self._ttl,
            "typ": ACCESS_TOKEN_TYPE,
        }
        headers = {"kid": self._jwk["kid"], "typ": "at+jwt"}
        token = jwt.encode(claims, self._private_key, algorithm=self._algorithm, headers=headers)
        return IssuedAccessToken(token=token, expires_in=self._ttl)

    def verify(self, token: str) -> AccessClaims:
        claims = self._verified(token)
        if claims.expires_at.timestamp() + CLOCK_LEEWAY_SECONDS <= time.time():
            raise InvalidToken()
        return claims

    def _verify_signature_and_claims(self, token: str) -> AccessClaims:
        try:
            claims = jwt.decode(
                token,
                self._public_key,
                algorithms=[self._algorithm],
                audience=self._audience,
                issuer=self._issuer,
                options={"require": ["iss", "aud", "sub", "sid", "jti", "iat", "exp", "typ"]},
                leeway=CLOCK_LEEWAY_SECONDS,
            )
            if claims["typ"] != ACCESS_TOKEN_TYPE:
                raise InvalidToken()
            return AccessClaims(
                user_id=UUID(claims["sub"]),
                session_id=UUID(claims["sid"]),
                token_id=str(claims["jti"]),
                expires_at=datetime.fromtimestamp(claims["exp"], UTC),
            )
        except (jwt.PyJWTError, ValueError, TypeError, KeyError) as exc:
            raise InvalidToken() from exc

    def public_jwks(self) -> dict[str, Any]:
        return {"keys": [dict(self._jwk)]}
