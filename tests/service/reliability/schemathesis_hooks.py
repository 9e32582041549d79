"""Schemathesis hooks for test_api_fuzz.py (loaded by the `st` CLI through `hooks` in schemathesis.toml).

They only supply test data the fuzzer cannot know, so that the success paths are exercised too; they never change
what a negative case is negative about:
- `POST /auth/register`: valid generated emails get a unique prefix, else most cases collide (409) on the same
  few addresses hypothesis likes to draw.
- `DELETE /users/me` and `POST /users/me/password`: a valid generated body gets a fresh account's token and its real
  password, so deletion and password change reach their 204 (with the shared fuzzing account they could only ever
  answer 401 `wrong_password`, and succeeding would end the session every other case uses).
- `POST /auth/register` and `POST /users/me/password`: a valid generated password that a rule JSON Schema cannot
  express refuses (common, repetitive or sequential, or containing a part of the email: the field's description
  states them) is replaced by one those rules accept, as a colliding email is made unique.
- `POST /auth/login`, `POST /auth/refresh`, `DELETE /auth/sessions/{session_id}`: every third valid case carries
  the fuzzing account's real credentials, a live refresh token, or the id of a session of that account; random
  ones can only be refused (401, 404).
"""

from __future__ import annotations

import itertools
import os
import re
import uuid
from collections import defaultdict
from typing import Any

import httpx
import schemathesis
from schemathesis.core.parameters import ParameterLocation

from auth_service.adapters.security.common_passwords import ZxcvbnCommonPasswords
from auth_service.domain.errors import InvalidEmail, WeakPassword
from auth_service.domain.values import Email, check_password_shape, normalize_password

THROWAWAY_PASSWORD = "Pelican-Zircon-Lantern-58"
ACCEPTABLE_PASSWORD = "Quokka-Marimba-Sextant-63"
_COMMON_PASSWORDS = ZxcvbnCommonPasswords()
_DOT_ATOM_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_LOCAL_MAX, _EMAIL_MAX = 64, 254
_PASSWORD_FIELDS = {"DELETE /users/me": "password", "POST /users/me/password": "current_password"}


_case_counters: defaultdict[str, itertools.count[int]] = defaultdict(itertools.count)


def _every_third(label: str) -> bool:
    return next(_case_counters[label]) % 3 == 0


def _fuzz_account_login(client: httpx.Client) -> dict[str, Any]:
    response = client.post(
        "/auth/login", json={"email": os.environ["AUTH_FUZZ_EMAIL"], "password": os.environ["AUTH_FUZZ_PASSWORD"]}
    )
    response.raise_for_status()
    tokens: dict[str, Any] = response.json()
    return tokens


def _fuzz_account_session_id() -> str:
    """A new session of the fuzzing account (the one the shared token belongs to), not the shared token's own."""
    with httpx.Client(base_url=os.environ["AUTH_FUZZ_BASE_URL"], timeout=30) as client:
        tokens = _fuzz_account_login(client)
        sessions = client.get("/auth/sessions", headers={"Authorization": f"Bearer {tokens['access_token']}"})
        sessions.raise_for_status()
    return str(next(session["id"] for session in sessions.json() if session["current"]))


def _fuzz_account_refresh_token() -> str:
    with httpx.Client(base_url=os.environ["AUTH_FUZZ_BASE_URL"], timeout=30) as client:
        return str(_fuzz_account_login(client)["refresh_token"])


def _valid_body(case: Any) -> dict[str, Any] | None:
    meta = case.meta
    if meta is None or meta.is_negative_at(ParameterLocation.BODY) or not isinstance(case.body, dict):
        return None
    return case.body


def _unique_email(email: str) -> str:
    local, _, domain = email.rpartition("@")
    prefix = f"u{uuid.uuid4().hex[:10]}."
    if not _DOT_ATOM_LOCAL.match(local) or len(prefix + local) > _LOCAL_MAX or len(prefix + email) > _EMAIL_MAX:
        return email
    return f"{prefix}{local}@{domain}"


def _acceptable_password(password: str, email: str) -> str:
    """`password`, unless a rule beyond the schema refuses it for `email`: then one those rules accept."""
    try:
        check_password_shape(password, Email(email))
    except InvalidEmail:
        return password  # the email is what gets refused
    except WeakPassword:
        return ACCEPTABLE_PASSWORD
    return ACCEPTABLE_PASSWORD if _COMMON_PASSWORDS.is_common(normalize_password(password)) else password


def _throwaway_email() -> str:
    return f"throwaway-{uuid.uuid4().hex[:12]}@example.com"


def _throwaway_session(email: str) -> str:
    base_url = os.environ["AUTH_FUZZ_BASE_URL"]
    with httpx.Client(base_url=base_url, timeout=30) as client:
        client.post(
            "/auth/register", json={"email": email, "password": THROWAWAY_PASSWORD, "display_name": "Throwaway"}
        ).raise_for_status()
        tokens = client.post("/auth/login", json={"email": email, "password": THROWAWAY_PASSWORD})
        tokens.raise_for_status()
    return str(tokens.json()["access_token"])


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    label = f"{case.method.upper()} {case.operation.path}"
    if label == "DELETE /auth/sessions/{session_id}":
        if case.meta is not None and not case.meta.is_negative_at(ParameterLocation.PATH) and _every_third(label):
            case.path_parameters["session_id"] = _fuzz_account_session_id()
        return
    body = _valid_body(case)
    if body is None:
        return
    if label == "POST /auth/login" and _every_third(label):
        body["username" if "username" in body else "email"] = os.environ["AUTH_FUZZ_EMAIL"]
        body["password"] = os.environ["AUTH_FUZZ_PASSWORD"]
    if label == "POST /auth/refresh" and "refresh_token" in body and _every_third(label):
        body["refresh_token"] = _fuzz_account_refresh_token()
    if label == "POST /auth/register" and isinstance(body.get("email"), str):
        body["email"] = _unique_email(body["email"])
        if isinstance(body.get("password"), str):
            body["password"] = _acceptable_password(body["password"], body["email"])
    field = _PASSWORD_FIELDS.get(label)
    if field is not None and isinstance(body.get(field), str):
        email = _throwaway_email()
        body[field] = THROWAWAY_PASSWORD
        if isinstance(body.get("new_password"), str):
            body["new_password"] = _acceptable_password(body["new_password"], email)
        if case.headers is None:
            case.headers = {}
        case.headers["Authorization"] = f"Bearer {_throwaway_session(email)}"
