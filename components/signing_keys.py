"""The public JWKS of the service's signing keys, computed by the stack and handed to other units out of band.

Over plain HTTP (by design: no TLS, no domain) whoever answers a JWKS fetch could mint tokens for every service
that trusts it, so the stack publishes the key set itself: as the stack output `jwks` (read by another unit's
program with a StackReference) and as an SSM parameter. Each key's members and `kid` (its RFC 7638 thumbprint)
are exactly what the service serves at /.well-known/jwks.json for the same private key
(tests/infra/test_jwks.py runs this module and the service's token issuer on the same keys).
"""

from __future__ import annotations

import base64
import hashlib
import json

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

# Standard-tier SSM parameters hold at most 4,096 characters; one Ed25519 JWK is ~150, a P-256 one ~230.
SSM_STANDARD_VALUE_MAX = 4096


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_jwk(private_key_pem: str) -> dict[str, str]:
    """The public JWK of an Ed25519 or EC P-256 private key in PEM, with its RFC 7638 thumbprint as `kid`."""
    try:
        key = serialization.load_pem_private_key(private_key_pem.strip().encode(), password=None)
    except ValueError as exc:  # the service would refuse it too, at start: better the stack, before deploying
        raise ValueError("jwtPrivateKey / jwtNextPrivateKey is not an unencrypted PEM private key") from exc
    if isinstance(key, ed25519.Ed25519PrivateKey):
        raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        members = {"crv": "Ed25519", "kty": "OKP", "x": _b64(raw)}
        algorithm = "EdDSA"
    elif isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        numbers = key.public_key().public_numbers()
        members = {
            "crv": "P-256",
            "kty": "EC",
            "x": _b64(numbers.x.to_bytes(32, "big")),
            "y": _b64(numbers.y.to_bytes(32, "big")),
        }
        algorithm = "ES256"
    else:
        raise ValueError("jwtPrivateKey must be an Ed25519 or EC P-256 private key in PEM")
    # RFC 7638: the required members only, sorted by name, no whitespace.
    thumbprint = hashlib.sha256(json.dumps(members, sort_keys=True, separators=(",", ":")).encode()).digest()
    return {**members, "kid": _b64(thumbprint), "use": "sig", "alg": algorithm}


def public_jwks_json(*private_key_pems: str) -> str:
    """`{"keys": [...]}` for the given keys in order (the signing key first), compact JSON. Refuses a set that
    would not fit a standard-tier SSM parameter or that names one key twice."""
    keys = [public_jwk(pem) for pem in private_key_pems]
    if len({key["kid"] for key in keys}) != len(keys):
        raise ValueError("jwtNextPrivateKey is the key the service already signs with: publish a new one")
    document = json.dumps({"keys": keys}, separators=(",", ":"))
    if len(document) > SSM_STANDARD_VALUE_MAX:
        limit = SSM_STANDARD_VALUE_MAX
        raise ValueError(f"the JWKS is {len(document)} characters, more than an SSM parameter's {limit}")
    return document
