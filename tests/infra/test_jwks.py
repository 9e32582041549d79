"""The public JWKS handed out of band: a plain stack output and a valid SSM parameter, equal key by key to what the
service serves for the same private key, read by another unit through a StackReference (docs/integration.md's
snippet under mocks), and a pinned verifier that refuses unknown keys without touching the network."""

from __future__ import annotations

import json
import re
import socket
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from auth_service.adapters.security.tokens import JwtTokenIssuer, load_private_key
from components.signing_keys import SSM_STANDARD_VALUE_MAX, public_jwk, public_jwks_json
from scripts.offline_stack import ROOT, StackGraph
from tests.support.integration_doc import AUTH_STACK, jwks_through_stack_reference, pinned_verifier

PARAMETER = "aws:ssm/parameter:Parameter"
ISSUER = "aidlc-auth-staging"  # Pulumi.staging.yaml's jwtIssuer
AUDIENCE = "aidlc"


def _pem(key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _ed25519() -> str:
    return _pem(ed25519.Ed25519PrivateKey.generate())


def _p256() -> str:
    return _pem(ec.generate_private_key(ec.SECP256R1()))


def _issuer(pem: str) -> JwtTokenIssuer:
    return JwtTokenIssuer(load_private_key(pem), issuer=ISSUER, audience=AUDIENCE, ttl_seconds=900)


def _token(pem: str) -> str:
    return _issuer(pem).issue(uuid.uuid4(), uuid.uuid4(), datetime.now(UTC)).token


@pytest.mark.parametrize("make_key", [_ed25519, _p256], ids=["Ed25519", "P-256"])
def test_the_stack_computes_exactly_the_jwk_the_service_serves(make_key: Callable[[], str]) -> None:
    pem = make_key()
    (served,) = _issuer(pem).public_jwks()["keys"]
    assert public_jwk(pem) == served


def test_a_config_value_that_is_no_pem_key_is_refused_before_deploying() -> None:
    with pytest.raises(ValueError, match="not an unencrypted PEM private key"):
        public_jwk("-----BEGIN PRIVATE KEY-----\nconfigured\n-----END PRIVATE KEY-----\n")


def test_a_key_that_is_neither_ed25519_nor_p256_is_refused() -> None:
    with pytest.raises(ValueError, match="Ed25519 or EC P-256"):
        public_jwk(_pem(ec.generate_private_key(ec.SECP384R1())))


def test_the_jwks_is_a_plain_output_and_the_ssm_parameter_holds_the_same_value(staging: StackGraph) -> None:
    generated = staging.generated_secrets["auth-staging-jwt-signing-key"]
    assert json.loads(staging.outputs["jwks"]) == _issuer(generated).public_jwks()
    assert "jwks" not in staging.secret_outputs and "jwks_parameter_name" not in staging.secret_outputs
    parameter = staging.one(PARAMETER)
    assert parameter.inputs["insecureValue"] == staging.outputs["jwks"]  # not wrapped as a secret
    assert "value" not in parameter.inputs
    assert staging.outputs["jwks_parameter_name"] == parameter.plain["name"] == "/auth-staging/jwks"
    assert generated not in json.dumps(parameter.plain) and "PRIVATE" not in staging.outputs["jwks"]


def test_the_ssm_parameter_is_valid_for_aws(staging: StackGraph) -> None:
    """PutParameter's rules: a name of a-zA-Z0-9_.-/ with a leading "/" in a hierarchy, at most 1,011 characters
    and 15 levels, not under "aws" or "ssm"; a standard-tier String of at most 4,096 characters."""
    parameter = staging.one(PARAMETER).plain
    name = parameter["name"]
    assert re.fullmatch(r"/[A-Za-z0-9_.\-/]+", name) and len(name) <= 1011 and name.count("/") <= 15
    assert not name.lstrip("/").lower().startswith(("aws", "ssm"))
    assert (parameter["type"], parameter["tier"], parameter["dataType"]) == ("String", "Standard", "text")
    assert len(parameter["insecureValue"]) <= SSM_STANDARD_VALUE_MAX


def test_the_jwks_follows_a_signing_key_given_in_config(run_stack: Callable[..., StackGraph]) -> None:
    pem = _p256()
    graph = run_stack(secret_config={"aidlc-auth:jwtPrivateKey": pem})
    assert json.loads(graph.outputs["jwks"]) == _issuer(pem).public_jwks()
    assert not graph.of_type("tls:index/privateKey:PrivateKey")


def test_a_next_key_is_published_after_the_signing_key(run_stack: Callable[..., StackGraph]) -> None:
    current, following = _ed25519(), _ed25519()
    graph = run_stack(secret_config={"aidlc-auth:jwtPrivateKey": current, "aidlc-auth:jwtNextPrivateKey": following})
    keys = json.loads(graph.outputs["jwks"])["keys"]
    assert keys == [*_issuer(current).public_jwks()["keys"], *_issuer(following).public_jwks()["keys"]]
    assert graph.one(PARAMETER).plain["insecureValue"] == graph.outputs["jwks"]


def test_a_next_key_equal_to_the_signing_key_is_refused() -> None:
    pem = _ed25519()
    with pytest.raises(ValueError, match="already signs with"):
        public_jwks_json(pem, pem)


def test_even_many_keys_fit_a_standard_parameter() -> None:
    assert len(public_jwks_json(*(_p256() for _ in range(12)))) <= SSM_STANDARD_VALUE_MAX
    with pytest.raises(ValueError, match="4096"):
        public_jwks_json(*(_p256() for _ in range(20)))


@pytest.fixture(scope="module")
def stack_verifier(staging: StackGraph) -> Callable[[str], dict[str, Any]]:
    """docs/integration.md: the other unit's program reads our `jwks` output through a StackReference and hands
    it to its service, whose verifier pins it."""
    jwks = jwks_through_stack_reference(staging.outputs)
    assert jwks == staging.outputs["jwks"]
    return pinned_verifier(jwks, ISSUER, AUDIENCE)


def test_a_token_signed_with_the_stacks_key_verifies_through_the_stack_reference(
    staging: StackGraph, stack_verifier: Callable[[str], dict[str, Any]]
) -> None:
    claims = stack_verifier(_token(staging.generated_secrets["auth-staging-jwt-signing-key"]))
    assert claims["iss"] == ISSUER and claims["typ"] == "access"


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every attempt to resolve a name or open a socket is recorded and fails."""
    attempts: list[str] = []

    def refuse(what: str) -> Callable[..., Any]:
        def blocked(*args: Any, **kwargs: Any) -> Any:
            attempts.append(f"{what}{args!r}")
            raise OSError(f"network blocked in this test: {what}")

        return blocked

    monkeypatch.setattr(socket, "getaddrinfo", refuse("getaddrinfo"))
    monkeypatch.setattr(socket, "create_connection", refuse("create_connection"))
    monkeypatch.setattr(socket.socket, "connect", refuse("connect"))
    monkeypatch.setattr(socket.socket, "connect_ex", refuse("connect_ex"))
    yield attempts


def test_a_token_signed_by_an_unknown_key_is_refused_without_any_network_call(
    staging: StackGraph, stack_verifier: Callable[[str], dict[str, Any]], no_network: list[str]
) -> None:
    with pytest.raises(jwt.InvalidTokenError, match="pinned key"):
        stack_verifier(_token(_ed25519()))  # a valid token of a key we never published
    assert no_network == []
    # Even one claiming our kid: the signature decides, still without a call.
    our_kid = json.loads(staging.outputs["jwks"])["keys"][0]["kid"]
    forged = jwt.encode(
        jwt.decode(_token(_ed25519()), options={"verify_signature": False}),
        ed25519.Ed25519PrivateKey.generate(),
        algorithm="EdDSA",
        headers={"kid": our_kid, "typ": "at+jwt"},
    )
    with pytest.raises(jwt.InvalidSignatureError):
        stack_verifier(forged)
    assert no_network == []


def test_the_docs_stack_reference_names_this_project() -> None:
    assert AUTH_STACK.split("/")[1] == yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["name"]
