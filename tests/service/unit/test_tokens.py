import base64
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from auth_service.adapters.security.tokens import JwtTokenIssuer, generate_private_key_pem, load_private_key
from auth_service.domain.errors import InvalidToken

NOW = datetime.now(UTC)


def issuer(pem: str | None = None, audience: str = "aidlc", iss: str = "aidlc-auth") -> JwtTokenIssuer:
    return JwtTokenIssuer(
        load_private_key(pem or generate_private_key_pem()), issuer=iss, audience=audience, ttl_seconds=900
    )


def _segments(token: str) -> list[dict[str, Any]]:
    head, body, _ = token.split(".")
    return [json.loads(base64.urlsafe_b64decode(part + "==")) for part in (head, body)]


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_round_trip_carries_the_required_claims() -> None:
    tokens = issuer()
    user, session = uuid4(), uuid4()
    issued = tokens.issue(user, session, NOW)
    header, claims = _segments(issued.token)
    assert header["alg"] == "EdDSA" and header["kid"] == tokens.public_jwks()["keys"][0]["kid"]
    assert set(claims) == {"iss", "aud", "sub", "sid", "jti", "iat", "exp", "typ"}
    assert claims["exp"] - claims["iat"] == 900 and claims["typ"] == "access"
    verified = tokens.verify(issued.token)
    assert (verified.user_id, verified.session_id) == (user, session)


def test_p256_keys_sign_es256_and_verify_from_the_jwks() -> None:
    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )
        .decode()
    )
    tokens = issuer(pem)
    token = tokens.issue(uuid4(), uuid4(), NOW).token
    jwk = tokens.public_jwks()["keys"][0]
    assert jwk["kty"] == "EC" and jwk["alg"] == "ES256" and "d" not in jwk
    public = jwt.PyJWK(jwk).key
    assert jwt.decode(token, public, algorithms=["ES256"], audience="aidlc")["typ"] == "access"


def test_jwks_lets_another_service_verify_ed25519_tokens() -> None:
    tokens = issuer()
    token = tokens.issue(uuid4(), uuid4(), NOW).token
    jwk = tokens.public_jwks()["keys"][0]
    assert set(jwk) == {"kty", "crv", "x", "kid", "use", "alg"}  # no private member "d"
    assert jwt.decode(token, jwt.PyJWK(jwk).key, algorithms=["EdDSA"], audience="aidlc")["sid"]


def test_rejects_a_token_signed_by_another_key() -> None:
    token = issuer().issue(uuid4(), uuid4(), NOW).token
    with pytest.raises(InvalidToken):
        issuer().verify(token)


def test_rejects_a_tampered_payload() -> None:
    tokens = issuer()
    head, _, signature = tokens.issue(uuid4(), uuid4(), NOW).token.split(".")
    _, claims = _segments(tokens.issue(uuid4(), uuid4(), NOW).token)
    forged = f"{head}.{_b64({**claims, 'sub': str(uuid4())})}.{signature}"
    with pytest.raises(InvalidToken):
        tokens.verify(forged)


def test_rejects_alg_none() -> None:
    tokens = issuer()
    _, claims = _segments(tokens.issue(uuid4(), uuid4(), NOW).token)
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
    with pytest.raises(InvalidToken):
        tokens.verify(unsigned)


def test_rejects_hs256_signed_with_the_public_key() -> None:
    """The classic algorithm-confusion attack: HMAC keyed with the published public key."""
    tokens = issuer()
    _, claims = _segments(tokens.issue(uuid4(), uuid4(), NOW).token)
    public_x = tokens.public_jwks()["keys"][0]["x"]
    forged = jwt.encode(claims, public_x, algorithm="HS256")
    with pytest.raises(InvalidToken):
        tokens.verify(forged)


def test_rejects_expired_tokens() -> None:
    tokens = issuer()
    old = tokens.issue(uuid4(), uuid4(), datetime.now(UTC) - timedelta(seconds=901 + 10))
    with pytest.raises(InvalidToken):
        tokens.verify(old.token)


def test_rejects_wrong_audience_and_issuer() -> None:
    pem = generate_private_key_pem()
    token = issuer(pem).issue(uuid4(), uuid4(), NOW).token
    with pytest.raises(InvalidToken):
        issuer(pem, audience="another-service").verify(token)
    with pytest.raises(InvalidToken):
        issuer(pem, iss="someone-else").verify(token)


def test_rejects_other_token_types_and_missing_claims() -> None:
    pem = generate_private_key_pem()
    key = load_private_key(pem)
    base = {
        "iss": "aidlc-auth",
        "aud": "aidlc",
        "sub": str(uuid4()),
        "sid": str(uuid4()),
        "jti": "x",
        "iat": int(time.time()),
        "exp": int(time.time()) + 60,
    }
    tokens = issuer(pem)
    with pytest.raises(InvalidToken):
        tokens.verify(jwt.encode({**base, "typ": "refresh"}, key, algorithm="EdDSA"))
    with pytest.raises(InvalidToken):
        tokens.verify(
            jwt.encode({k: v for k, v in base.items() if k != "sid"} | {"typ": "access"}, key, algorithm="EdDSA")
        )
    with pytest.raises(InvalidToken):
        tokens.verify("not-a-jwt")


def test_rejects_keys_of_unsupported_types() -> None:
    pem = (
        ec.generate_private_key(ec.SECP384R1())
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )
    with pytest.raises(ValueError, match="Ed25519 or EC P-256"):
        load_private_key(pem)


def test_a_cached_verification_still_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    tokens = issuer()
    token = tokens.issue(uuid4(), uuid4(), NOW).token
    assert tokens.verify(token)  # verified once, then served from the per-process cache
    later = time.time() + 900 + 6
    monkeypatch.setattr(time, "time", lambda: later)
    with pytest.raises(InvalidToken):
        tokens.verify(token)


def test_failed_verifications_are_never_cached() -> None:
    tokens = issuer()
    head, body, signature = tokens.issue(uuid4(), uuid4(), NOW).token.split(".")
    forged = f"{head}.{body}.{signature[:-4]}AAAA"
    for _ in range(2):
        with pytest.raises(InvalidToken):
            tokens.verify(forged)
