"""docs/integration.md's StackReference snippet and token verifier, run exactly as written against the live
service (the stack computed offline with the service's signing key); README's API table checked against the
served `/openapi.json`."""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from auth_service.adapters.security.tokens import load_private_key
from scripts.offline_stack import run_offline
from tests.support.integration_doc import Verifier, jwks_through_stack_reference, pinned_verifier
from tests.support.secrets_ledger import SecretsLedger, register_and_login
from tests.support.servers import REPO_ROOT, ServiceProcess

README = REPO_ROOT / "README.md"
ISSUER, AUDIENCE = "aidlc-auth", "aidlc"  # the live service's (the settings' defaults)
PASSWORD = "Integration-Okapi-Fennel-29"


@pytest.fixture(scope="module")
def stack_jwks(signing_key: str) -> str:
    """The `jwks` output of the stack deployed with the live service's signing key (its `jwtPrivateKey`)."""
    graph = run_offline(secret_config={"aidlc-auth:jwtPrivateKey": signing_key})
    jwks: str = graph.outputs["jwks"]
    return jwks


@pytest.fixture(scope="module")
def verify_access_token(live_service: ServiceProcess, stack_jwks: str) -> Verifier:
    """The doc's two snippets, unchanged: the other unit's program reads the stack's `jwks` through a
    StackReference (under mocks) and its verifier pins what that yields. Configured like the live service."""
    return pinned_verifier(jwks_through_stack_reference({"jwks": stack_jwks}), ISSUER, AUDIENCE)


def test_the_stack_publishes_exactly_the_keys_the_service_serves(live_service: ServiceProcess, stack_jwks: str) -> None:
    served = httpx.get(f"{live_service.base_url}/.well-known/jwks.json", timeout=10).json()
    assert json.loads(stack_jwks) == served


@pytest.fixture(scope="module")
def signed_in(live_service: ServiceProcess, secrets_ledger: SecretsLedger) -> dict[str, Any]:
    email, tokens = register_and_login(live_service.base_url, secrets_ledger, PASSWORD)
    me = httpx.get(
        f"{live_service.base_url}/users/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}, timeout=10
    )
    return {"email": email, "user_id": me.json()["id"], **tokens}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def test_a_real_access_token_verifies(verify_access_token: Verifier, signed_in: dict[str, Any]) -> None:
    claims = verify_access_token(signed_in["access_token"])
    assert claims["sub"] == signed_in["user_id"] and claims["typ"] == "access" and claims["sid"]


def test_a_tampered_token_is_rejected(verify_access_token: Verifier, signed_in: dict[str, Any]) -> None:
    header, _, signature = signed_in["access_token"].split(".")
    forged_claims = {**_claims(signed_in["access_token"]), "sub": str(uuid.uuid4())}
    forged_payload = _b64(json.dumps(forged_claims).encode())
    with pytest.raises(jwt.InvalidSignatureError):
        verify_access_token(f"{header}.{forged_payload}.{signature}")


def test_a_refresh_token_is_rejected(verify_access_token: Verifier, signed_in: dict[str, Any]) -> None:
    with pytest.raises(jwt.PyJWTError):
        verify_access_token(signed_in["refresh_token"])


@pytest.fixture(scope="module")
def kid(live_service: ServiceProcess) -> str:
    return str(httpx.get(f"{live_service.base_url}/.well-known/jwks.json", timeout=10).json()["keys"][0]["kid"])


@pytest.mark.parametrize(
    ("change", "header", "error"),
    [
        ({"aud": "another-service"}, {}, jwt.InvalidAudienceError),
        ({"iss": "someone-else"}, {}, jwt.InvalidIssuerError),
        ({"typ": "refresh"}, {}, jwt.InvalidTokenError),
        ({"exp": int(time.time()) - 60}, {}, jwt.ExpiredSignatureError),
        ({"sid": None}, {}, jwt.MissingRequiredClaimError),
        ({}, {"typ": "JWT"}, jwt.InvalidTokenError),
    ],
)
def test_tokens_signed_with_our_key_but_not_access_tokens_for_us_are_rejected(
    verify_access_token: Verifier,
    signed_in: dict[str, Any],
    signing_key: str,
    kid: str,
    change: dict[str, Any],
    header: dict[str, Any],
    error: type[Exception],
) -> None:
    claims = {
        key: value for key, value in {**_claims(signed_in["access_token"]), **change}.items() if value is not None
    }
    token = jwt.encode(
        claims, load_private_key(signing_key), algorithm="EdDSA", headers={"kid": kid, "typ": "at+jwt", **header}
    )
    with pytest.raises(error):
        verify_access_token(token)


def test_alg_none_is_rejected(verify_access_token: Verifier, signed_in: dict[str, Any], kid: str) -> None:
    unsigned = jwt.encode(
        _claims(signed_in["access_token"]), "", algorithm="none", headers={"kid": kid, "typ": "at+jwt"}
    )
    with pytest.raises(jwt.PyJWTError):
        verify_access_token(unsigned)


def test_a_key_the_jwks_does_not_publish_is_rejected(verify_access_token: Verifier, signed_in: dict[str, Any]) -> None:
    """A token from a rotated-out or foreign key: not pinned, refused (tests/infra/test_jwks.py: with no network)."""
    foreign = jwt.encode(
        _claims(signed_in["access_token"]),
        ed25519.Ed25519PrivateKey.generate(),
        algorithm="EdDSA",
        headers={"kid": "not-our-key", "typ": "at+jwt"},
    )
    with pytest.raises(jwt.InvalidTokenError, match="pinned key"):
        verify_access_token(foreign)


def _readme_api_rows() -> dict[str, tuple[str, str]]:
    section = README.read_text().split("## API", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 4 and re.match(r"^(GET|POST|PATCH|DELETE|PUT) /", cells[0]):
            rows[cells[0]] = (cells[2], cells[3])
    return rows


def _statuses_with_codes(text: str) -> dict[int, set[str]]:
    """'401 `a` / `b`, 422 `c`' -> {401: {a, b}, 422: {c}}."""
    found: dict[int, set[str]] = {}
    for status, rest in re.findall(r"\b([1-5]\d\d)\b((?:(?!\b[1-5]\d\d\b).)*)", text):
        found.setdefault(int(status), set()).update(re.findall(r"`([a-z_]+)`", rest))
    return found


def test_the_readme_api_table_agrees_with_the_served_document(live_service: ServiceProcess) -> None:
    document = httpx.get(f"{live_service.base_url}/openapi.json", timeout=10).json()
    operations = {
        f"{method.upper()} {path}": operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }
    rows = _readme_api_rows()
    assert set(rows) == set(operations)
    for label, (success, failures) in rows.items():
        responses = operations[label]["responses"]
        documented_success = {int(status) for status in responses if int(status) < 400}
        assert set(_statuses_with_codes(success)) == documented_success, label
        documented = {
            int(status): set(response["content"]["application/problem+json"]["schema"]["properties"]["code"]["enum"])
            for status, response in responses.items()
            if int(status) >= 400
        }
        for status, codes in _statuses_with_codes(failures).items():
            assert status in documented and codes <= documented[status], (label, status, codes)
        # What the table leaves to the paragraph below it: unreadable and oversized bodies, 500, and 503 outages.
        implied = {400, 413, 500} | (
            {503} if documented.get(503, set()) <= {"dependency_unavailable", "overloaded"} else set()
        )
        assert set(documented) - implied <= set(_statuses_with_codes(failures)), label
