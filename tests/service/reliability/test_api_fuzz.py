"""Property-based fuzzing of the whole HTTP API with schemathesis, against the real service process.

Properties, for every operation in the OpenAPI document and for valid and invalid generated input:
no 5xx, the status code is documented, the content type and the body match the documented schema, and an
operation that declares bearer security refuses the request without it (schemathesis `ignored_auth`).
Authenticated operations get a real bearer token; it is renewed whenever a case ended its session.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    ignored_auth,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from auth_service.adapters.security.tokens import generate_private_key_pem
from auth_service.bootstrap import create_app
from auth_service.settings import Settings
from tests.service.reliability.conftest import SecretsLedger, register_and_login
from tests.support.servers import ServiceProcess

FUZZ_PASSWORD = "Fuzzing-Walrus-Quartz-77"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance, ignored_auth]
# Operations whose success ends the fuzzing account's session (or the account): renew the token after them.
SESSION_ENDING = {"POST /auth/logout", "POST /auth/logout-all", "DELETE /users/me", "POST /users/me/password"}

calls: dict[str, Counter[int]] = defaultdict(Counter)


class FuzzAccount:
    def __init__(self, base_url: str, ledger: SecretsLedger) -> None:
        self.base_url = base_url
        self.ledger = ledger
        self.renew()

    def renew(self) -> None:
        _, tokens = register_and_login(self.base_url, self.ledger, FUZZ_PASSWORD)
        self.token = str(tokens["access_token"])

    def still_valid(self) -> bool:
        me = httpx.get(f"{self.base_url}/users/me", headers={"Authorization": f"Bearer {self.token}"}, timeout=10)
        return me.status_code == 200


@pytest.fixture(scope="module")
def fuzz_account(live_service: ServiceProcess, secrets_ledger: SecretsLedger) -> FuzzAccount:
    return FuzzAccount(live_service.base_url, secrets_ledger)


def _openapi_document() -> dict[str, Any]:
    """The document the app serves, built without touching any server (the app connects lazily).

    schemathesis' lazy `from_fixture` loader does not work with pytest 9 (it reads `request.node._nodeid`),
    so the schema is built at import time; test_served_schema_is_the_fuzzed_one proves it is the live one.
    """
    app = create_app(Settings(database_url="postgresql://fuzz@127.0.0.1:1/fuzz",
                              jwt_private_key=generate_private_key_pem()),
                     hasher=_NoHasher(), common_passwords=_NoCommonPasswords())
    return app.openapi()


class _NoHasher:
    async def hash(self, password: str) -> str:
        raise NotImplementedError

    async def verify(self, password: str, password_hash: str | None) -> tuple[bool, str | None]:
        raise NotImplementedError


class _NoCommonPasswords:
    def is_common(self, password: str) -> bool:
        raise NotImplementedError


OPENAPI = _openapi_document()
schema = schemathesis.openapi.from_dict(OPENAPI)


def test_served_schema_is_the_fuzzed_one(live_service: ServiceProcess) -> None:
    served = httpx.get(f"{live_service.base_url}/openapi.json", timeout=10)
    assert served.status_code == 200
    assert served.json() == json.loads(json.dumps(OPENAPI))


@schema.parametrize()
@settings(max_examples=12, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case: schemathesis.Case, fuzz_account: FuzzAccount,
                                    live_service: ServiceProcess, secrets_ledger: SecretsLedger) -> None:
    secured = bool(OPENAPI["paths"][case.operation.path].get(case.method.lower(), {}).get("security"))
    headers = {"Authorization": f"Bearer {fuzz_account.token}"} if secured else None
    response = case.call_and_validate(base_url=live_service.base_url, headers=headers, checks=CHECKS, timeout=10)
    label = f"{case.method.upper()} {case.path}"
    calls[label][response.status_code] += 1
    if response.headers.get("content-type", [""])[0].startswith("application/json") and isinstance(
        body := response.json(), dict
    ):
        secrets_ledger.add_tokens(body)
    if label in SESSION_ENDING and response.status_code < 300 and not fuzz_account.still_valid():
        fuzz_account.renew()


def test_fuzzing_reached_the_interesting_outcomes() -> None:
    """The fuzzer must have exercised register/login with success and failure, and authenticated reads."""
    print("\nschemathesis status codes per operation:")
    for label, statuses in sorted(calls.items()):
        print(f"  {label:32} {dict(sorted(statuses.items()))}")
    assert calls, "the fuzz test did not run"
    documented = {f"{method.upper()} {path}" for path, item in OPENAPI["paths"].items() for method in item}
    missing = {label for label in documented if not sum(calls[label].values())}
    assert not missing, f"operations never exercised: {missing}"
    assert calls["POST /auth/register"][201] > 0 and calls["POST /auth/register"][422] > 0
    assert calls["POST /auth/login"][401] > 0 and calls["POST /auth/login"][422] > 0
    assert calls["GET /users/me"][200] > 0
