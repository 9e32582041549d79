"""docs/integration.md's two snippets, executed exactly as written: the other unit's Pulumi program (a
StackReference to our stack, under the offline mocks) and the token verifier pinned to the keys it yields."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from scripts.offline_stack import build, resolve
from tests.support.servers import REPO_ROOT

INTEGRATION_DOC = REPO_ROOT / "docs" / "integration.md"
AUTH_STACK = "organization/aidlc-auth/staging"  # the name the doc's snippet references
Verifier = Callable[[str], dict[str, Any]]


def python_blocks() -> list[str]:
    text = INTEGRATION_DOC.read_text()
    return re.findall(r"^```python\n(.*?)^```$", text, flags=re.DOTALL | re.MULTILINE)


def _block_with(marker: str) -> str:
    return next(block for block in python_blocks() if marker in block)


def _run(snippet: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "integration_doc_snippet"}
    exec(compile(snippet, str(INTEGRATION_DOC), "exec"), namespace)  # noqa: S102 - our own documentation's code
    return namespace


def jwks_through_stack_reference(auth_stack_outputs: Mapping[str, Any]) -> str:
    """The doc's Pulumi snippet run under mocks whose StackReference answers with `auth_stack_outputs`; the
    value it hands to the other unit's service as AUTH_JWKS."""
    namespace: dict[str, Any] = {}
    snippet = _block_with("StackReference(")
    build(lambda: namespace.update(_run(snippet)), stack_references={AUTH_STACK: auth_stack_outputs})
    (variable,) = resolve(namespace["auth_jwks_environment"])
    assert variable["name"] == "AUTH_JWKS"
    value: str = resolve(namespace["auth_jwks"])
    assert variable["value"] == value
    return value


@contextmanager
def _environment(**values: str) -> Iterator[None]:
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def pinned_verifier(jwks: str, issuer: str, audience: str) -> Verifier:
    """The doc's `verify_access_token`, configured by the environment variables it reads (keys read at import)."""
    with _environment(AUTH_JWKS=jwks, AUTH_JWT_ISSUER=issuer, AUTH_JWT_AUDIENCE=audience):
        namespace = _run(_block_with("def verify_access_token"))
    verifier: Verifier = namespace["verify_access_token"]
    return verifier
