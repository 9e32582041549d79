"""HTTP details every client relies on: Allow on 405, challenges on 401, no caching of tokens, declared rules.

Each rule the document declares is also checked against the running app here, value by value, at its edges.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, HTTPException

from auth_service.adapters.http.contract import OPERATION_PROBLEMS
from auth_service.adapters.http.problems import install_problem_handlers
from tests.service.integration.helpers import assert_problem
from tests.support.app import STRONG_PASSWORD, Service, bearer, unique_email

HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "00000000-0000-0000-0000-000000000000", path)


async def test_405_lists_every_method_the_path_supports(service: Service) -> None:
    """RFC 9110 §15.5.6: `Allow` names all of the resource's methods, not only those of the first route."""
    document = service.app.openapi()
    for path, item in document["paths"].items():
        documented = {method.upper() for method in item}
        documented |= {"HEAD"} if "GET" in documented else set()  # implicit, as RFC 9110 §9.1 wants
        for method in sorted(set(HTTP_METHODS) - documented):
            response = await service.client.request(method, _concrete(path))
            assert response.status_code == 405, (method, path)
            assert set(response.headers["allow"].split(", ")) == documented, (method, path)
            if method != "HEAD":
                assert_problem(response, 405, "method_not_allowed")


async def test_users_me_advertises_get_head_patch_and_delete(service: Service) -> None:
    response = await service.client.options("/users/me")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD, PATCH, DELETE"


async def test_head_is_get_without_the_body(service: Service) -> None:
    """RFC 9110 §9.1: a general-purpose server supports HEAD wherever it supports GET."""
    _, headers = await service.signed_in_user()
    for path, auth in (("/users/me", headers), ("/health/live", {}), ("/.well-known/jwks.json", {})):
        got, head = await service.client.get(path, headers=auth), await service.client.head(path, headers=auth)
        assert head.status_code == got.status_code == 200, path
        assert head.content == b"" and head.headers["content-type"] == got.headers["content-type"]
        assert head.headers["content-length"] == got.headers["content-length"]
    assert (await service.client.head("/users/me")).status_code == 401
    not_allowed = await service.client.head("/auth/login")
    assert not_allowed.status_code == 405 and not_allowed.headers["allow"] == "POST" and not_allowed.content == b""


async def test_every_401_carries_a_bearer_challenge(service: Service) -> None:
    user, headers = await service.signed_in_user()
    presented_bad_token = await service.client.get("/users/me", headers=bearer("not-a-jwt"))
    assert_problem(presented_bad_token, 401, "invalid_token")
    assert presented_bad_token.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    reused_refresh = await service.client.post("/auth/refresh", json={"refresh_token": "x" * 43})
    assert reused_refresh.headers["www-authenticate"] == 'Bearer error="invalid_token"'

    wrong_login = await service.client.post("/auth/login", json={"email": user["email"], "password": "Wrong-1234"})
    assert_problem(wrong_login, 401, "invalid_credentials")
    assert wrong_login.headers["www-authenticate"] == "Bearer"
    wrong_password = await service.client.request(
        "DELETE", "/users/me", headers=headers, json={"password": "Wrong-1234"}
    )
    assert_problem(wrong_password, 401, "wrong_password")
    assert wrong_password.headers["www-authenticate"] == "Bearer"


async def test_token_responses_are_never_cached(service: Service) -> None:
    """RFC 6749 §5.1: Cache-Control: no-store and Pragma: no-cache on every response carrying tokens."""
    user = await service.register()
    login = await service.client.post("/auth/login", json={"email": user["email"], "password": STRONG_PASSWORD})
    form_login = await service.client.post("/auth/login", data={"username": user["email"], "password": STRONG_PASSWORD})
    refreshed = await service.client.post("/auth/refresh", json={"refresh_token": login.json()["refresh_token"]})
    for response in (login, form_login, refreshed):
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["pragma"] == "no-cache"


async def test_login_form_refuses_what_its_schema_refuses(service: Service) -> None:
    for form in (
        {"username": "", "password": "x"},
        {"username": "a@b.co", "password": ""},
        {"username": "a@b.co", "password": "x", "grant_type": ""},
        {"username": "a@b.co", "password": "x", "grant_type": "client_credentials"},
    ):
        assert_problem(await service.client.post("/auth/login", data=form), 422, "validation_error")


def _problem_codes(document: dict[str, Any], operation_id: str) -> dict[int, set[str]]:
    for item in document["paths"].values():
        for operation in item.values():
            if operation["operationId"] == operation_id:
                return {
                    int(status): set(
                        response["content"]["application/problem+json"]["schema"]["properties"]["code"]["enum"]
                    )
                    for status, response in operation["responses"].items()
                    if int(status) >= 400
                }
    raise AssertionError(operation_id)


def test_each_operation_documents_its_statuses_codes_and_headers(service: Service) -> None:
    document = service.app.openapi()
    for operation_id, statuses in OPERATION_PROBLEMS.items():
        documented = _problem_codes(document, operation_id)
        assert documented == {**{s: set(c) for s, c in statuses.items()}, 500: {"internal_error"}}
    for item in document["paths"].values():
        for operation in item.values():
            for status, response in operation["responses"].items():
                headers = response.get("headers", {})
                if status in ("429", "503"):
                    assert headers["Retry-After"]["required"] is True
                if status == "401":
                    assert headers["WWW-Authenticate"]["required"] is True
                if status == "413":
                    assert "payload_too_large" in _problem_codes(document, operation["operationId"])[413]
    assert _problem_codes(document, "register")[429] == {"registration_throttled"}
    assert _problem_codes(document, "change_password")[429] == {"reauth_throttled"}
    assert _problem_codes(document, "delete_me")[429] == {"reauth_throttled"}
    for operation_id in ("login", "register", "change_password", "delete_me"):
        assert "overloaded" in _problem_codes(document, operation_id)[503]


def _field(document: dict[str, Any], model: str, name: str) -> dict[str, Any]:
    schema: dict[str, Any] = document["components"]["schemas"][model]["properties"][name]
    return schema


def test_the_document_declares_the_field_rules(service: Service) -> None:
    document = service.app.openapi()
    password = _field(document, "RegisterRequest", "password")
    assert (password["minLength"], password["maxLength"]) == (8, 128)
    assert "common" in password["description"] and "local part" in password["description"]
    assert _field(document, "PasswordChangeRequest", "new_password")["minLength"] == 8
    email = _field(document, "RegisterRequest", "email")
    assert email["format"] == "email" and email["maxLength"] == 254
    name = _field(document, "RegisterRequest", "display_name")
    assert (name["minLength"], name["maxLength"]) == (1, 64) and "pattern" in name
    assert _field(document, "ProfileUpdateRequest", "bio")["anyOf"][0]["maxLength"] == 500
    avatar = _field(document, "ProfileUpdateRequest", "avatar_url")["anyOf"][0]
    assert avatar["maxLength"] == 2048 and "pattern" in avatar


def _pattern(document: dict[str, Any], model: str, name: str) -> re.Pattern[str]:
    schema = _field(document, model, name)
    return re.compile(schema.get("pattern") or schema["anyOf"][0]["pattern"])


DISPLAY_NAMES = [
    "A",
    " Ada ",
    "Ada\n",
    "\u00a0Ada\u3000",
    "x" * 64,
    "Łukasz 🚀",
    "",
    "   ",
    "\t",
    "A\u0000B",
    "A\u0085B",
    "A\tB",
    "\u0085",
    "Ada\u007f",
]
BIOS = ["", "   ", "line one\nline two\r\n\tindented", "\u000b edge \u001f", "x\u0000", "x\u000by", "b" * 500, None]
AVATARS = [
    "https://cdn.example.com/me.png",
    "HTTP://EXAMPLE.COM",
    "http://0",
    "https://u:p@h.io:8443/a?b#c",
    "  https://example.com/x  ",
    "",
    "   ",
    None,
    "javascript:alert(1)",
    "ftp://example.com/x.png",
    "https://",
    "https:///path",
    "https://exa mple.com",
    "https://bücher.de/",
    "http://[::1]/a.png",
    "https://example.com/a b",
    "https://example.com/\u0000",
    "0000",
    "https://example.com/ü",
    "https://h.io:80x/",
]


@pytest.mark.parametrize(("field", "values"), [("display_name", DISPLAY_NAMES), ("bio", BIOS), ("avatar_url", AVATARS)])
async def test_declared_profile_rules_match_what_the_service_accepts(
    service: Service, field: str, values: list[str | None]
) -> None:
    """For each value: valid by the document exactly when PATCH /users/me accepts it."""
    document = service.app.openapi()
    pattern = _pattern(document, "ProfileUpdateRequest", field)
    nullable = "anyOf" in _field(document, "ProfileUpdateRequest", field)
    _, headers = await service.signed_in_user()
    for value in values:
        declared_valid = nullable if value is None else bool(pattern.search(value))
        response = await service.client.patch("/users/me", headers=headers, json={field: value})
        assert (response.status_code == 200) == declared_valid, (field, value, response.text)
        if not declared_valid:
            assert response.status_code == 422


@pytest.mark.parametrize("display_name", DISPLAY_NAMES)
async def test_register_display_name_rule_matches_the_document(service: Service, display_name: str) -> None:
    pattern = _pattern(service.app.openapi(), "RegisterRequest", "display_name")
    response = await service.client.post(
        "/auth/register", json={"email": unique_email(), "password": STRONG_PASSWORD, "display_name": display_name}
    )
    declared_valid = len(display_name) >= 1 and bool(pattern.search(display_name))
    assert (response.status_code == 201) == declared_valid, (display_name, response.text)


LONG_PASSWORD = "Q" + "-Walrus-Quartz-77" * 8


@pytest.mark.parametrize(
    ("password", "accepted"),
    [
        ("x7-Quokk", True),
        ("x7-Quok", False),
        (LONG_PASSWORD[:128], True),
        (LONG_PASSWORD[:129], False),
    ],
)
async def test_password_length_edges_match_the_document(service: Service, password: str, accepted: bool) -> None:
    declared = _field(service.app.openapi(), "RegisterRequest", "password")
    assert (declared["minLength"] <= len(password) <= declared["maxLength"]) == accepted
    response = await service.client.post(
        "/auth/register", json={"email": unique_email(), "password": password, "display_name": "Edge"}
    )
    if accepted:
        assert response.status_code == 201, response.text
    else:
        assert_problem(response, 422, "weak_password")


@pytest.mark.parametrize(
    ("status", "code"), [(400, "validation_error"), (401, "not_authenticated"), (413, "payload_too_large")]
)
async def test_framework_errors_get_the_vocabulary_codes(status: int, code: str) -> None:
    """Statuses raised by the framework or a middleware (an oversized body) carry the documented codes."""
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/raise")
    async def raise_it() -> None:
        raise HTTPException(status, "refused")

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        response = await client.post("/raise")
    assert_problem(response, status, code)
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"
