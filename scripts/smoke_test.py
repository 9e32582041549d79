"""End-to-end smoke test of a running service, standard library only (CI runs it without installing anything).

    python scripts/smoke_test.py http://127.0.0.1:8000 [--wait 300]

register -> login -> /users/me -> refresh -> a retry of that refresh gets the same pair -> refresh again ->
reusing the first (now older) refresh token is rejected and revokes the session -> a new login -> logout ->
that access token is rejected -> the account is deleted and cannot log in.
Exits 0 when every step passed, 1 with a message naming the first step that did not. The account it registers
is deleted in every case: when a step fails, a cleanup logs in and deletes it (best effort, reported).
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


class SmokeFailure(Exception):
    pass


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any

    def __str__(self) -> str:
        return f"HTTP {self.status} {json.dumps(self.body)[:300]}"


class Client:
    def __init__(self, base_url: str, timeout: float) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise SmokeFailure(f"BASE_URL must be http(s)://host[:port], got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def call(self, method: str, path: str, body: dict[str, Any] | None = None, token: str | None = None) -> Reply:
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        url = self.base_url + path  # scheme checked in __init__: http(s) only
        request = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return Reply(response.status, _json(response.read()))
        except urllib.error.HTTPError as error:
            return Reply(error.code, _json(error.read()))
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            raise SmokeFailure(f"{method} {path}: no answer from {self.base_url} ({error})") from error


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return raw[:300].decode(errors="replace")


def expect(step: str, reply: Reply, status: int) -> Any:
    if reply.status != status:
        raise SmokeFailure(f"{step}: expected HTTP {status}, got {reply}")
    print(f"ok  {step} ({status})")
    return reply.body


def expect_tokens(step: str, reply: Reply) -> dict[str, Any]:
    body = expect(step, reply, 200)
    missing = {"access_token", "refresh_token", "token_type", "expires_in"} - set(body or {})
    if missing or str(body["token_type"]).lower() != "bearer":
        raise SmokeFailure(f"{step}: not a bearer token pair (missing {sorted(missing)}): {reply}")
    tokens: dict[str, Any] = body
    return tokens


def wait_until_ready(client: Client, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            reply = client.call("GET", "/health/ready")
            if reply.status == 200:
                print("ok  service is ready (/health/ready 200)")
                return
            last = str(reply)
        except SmokeFailure as error:
            last = str(error)
        if time.monotonic() >= deadline:
            raise SmokeFailure(f"not ready after {seconds:.0f}s: {last}")
        time.sleep(5)


@dataclass
class SmokeAccount:
    email: str
    password: str
    maybe_exists: bool = False

    @classmethod
    def new(cls) -> SmokeAccount:
        return cls(f"smoke+{secrets.token_hex(6)}@example.com", f"Probe-{secrets.token_urlsafe(18)}")

    @property
    def credentials(self) -> dict[str, str]:
        return {"email": self.email, "password": self.password}


def run(client: Client, account: SmokeAccount) -> None:
    email, password, credentials = account.email, account.password, account.credentials

    account.maybe_exists = True  # from here on (even if the reply is lost) there may be an account to delete
    profile = expect(
        "register", client.call("POST", "/auth/register", {**credentials, "display_name": "Smoke Test"}), 201
    )
    if (profile or {}).get("email") != email:
        raise SmokeFailure(f"register: the profile does not carry the email: {profile}")
    first = expect_tokens("login", client.call("POST", "/auth/login", credentials))
    me = expect("GET /users/me", client.call("GET", "/users/me", token=first["access_token"]), 200)
    if (me or {}).get("email") != email:
        raise SmokeFailure(f"GET /users/me: expected {email}, got {me}")

    rotated = expect_tokens("refresh", client.call("POST", "/auth/refresh", {"refresh_token": first["refresh_token"]}))
    if rotated["refresh_token"] == first["refresh_token"]:
        raise SmokeFailure("refresh: the refresh token was not rotated")
    expect("new access token works", client.call("GET", "/users/me", token=rotated["access_token"]), 200)
    retried = expect_tokens(
        "a retried refresh (inside the grace window) gets the same pair",
        client.call("POST", "/auth/refresh", {"refresh_token": first["refresh_token"]}),
    )
    if retried["refresh_token"] != rotated["refresh_token"]:
        raise SmokeFailure("a retried refresh inside the grace window returned another refresh token")
    newest = expect_tokens(
        "refresh the rotated token", client.call("POST", "/auth/refresh", {"refresh_token": rotated["refresh_token"]})
    )
    expect(
        "reuse of an older refresh token is rejected",
        client.call("POST", "/auth/refresh", {"refresh_token": first["refresh_token"]}),
        401,
    )
    expect(
        "reuse revoked the session: its new access token is rejected",
        client.call("GET", "/users/me", token=newest["access_token"]),
        401,
    )
    expect(
        "reuse revoked the session: its new refresh token is rejected",
        client.call("POST", "/auth/refresh", {"refresh_token": newest["refresh_token"]}),
        401,
    )

    second = expect_tokens("login again", client.call("POST", "/auth/login", credentials))
    expect("logout", client.call("POST", "/auth/logout", token=second["access_token"]), 204)
    expect("access token rejected after logout", client.call("GET", "/users/me", token=second["access_token"]), 401)

    third = expect_tokens("login to delete the account", client.call("POST", "/auth/login", credentials))
    expect(
        "delete the account",
        client.call("DELETE", "/users/me", {"password": password}, token=third["access_token"]),
        204,
    )
    account.maybe_exists = False
    expect("login after deletion is rejected", client.call("POST", "/auth/login", credentials), 401)


def delete_leftover_account(client: Client, account: SmokeAccount) -> None:
    """After a failed step: log in as the smoke-test account and delete it, so no test account is left behind."""
    if not account.maybe_exists:
        return
    try:
        login = client.call("POST", "/auth/login", account.credentials)
        if login.status != 200:
            print(f"cleanup: no account to delete for {account.email} (login answered {login})")
            return
        deletion = client.call("DELETE", "/users/me", {"password": account.password}, token=login.body["access_token"])
    except SmokeFailure as error:
        print(f"cleanup: could not delete {account.email}: {error}", file=sys.stderr)
        return
    if deletion.status == 204:
        print(f"cleanup: deleted the smoke-test account {account.email}")
    else:
        print(f"cleanup: could not delete {account.email}: {deletion}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("base_url", help="e.g. http://127.0.0.1:8000 or the stack's service_url output")
    parser.add_argument(
        "--wait",
        type=float,
        default=0,
        metavar="SECONDS",
        help="first poll /health/ready for up to this long (after a deploy)",
    )
    parser.add_argument("--timeout", type=float, default=15, metavar="SECONDS", help="per request")
    args = parser.parse_args(argv)
    account = SmokeAccount.new()
    try:
        client = Client(args.base_url, args.timeout)
        if args.wait > 0:
            wait_until_ready(client, args.wait)
        run(client, account)
    except SmokeFailure as failure:
        print(f"SMOKE TEST FAILED: {failure}", file=sys.stderr)
        if account.maybe_exists:
            delete_leftover_account(client, account)
        return 1
    print(f"smoke test passed against {args.base_url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
