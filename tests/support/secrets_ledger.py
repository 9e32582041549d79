"""Every secret the live-service tests send or receive (passwords, tokens, the signing key), so
test_log_secrets.py can prove that none of them reached a log."""

from __future__ import annotations

import uuid

import httpx


class SecretsLedger:
    """Strings that must never appear in any log output."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def add(self, kind: str, value: str | None) -> None:
        if value and len(value) >= 8:  # shorter values would match by accident
            self.values.setdefault(value, kind)

    def add_tokens(self, body: dict[str, object]) -> None:
        self.add("access token", str(body.get("access_token") or ""))
        self.add("refresh token", str(body.get("refresh_token") or ""))
        self.add("device token", str(body.get("device_token") or ""))

    def found_in(self, text: str) -> list[str]:
        return [f"{kind} {value[:12]}..." for value, kind in self.values.items() if value in text]


def register_and_login(base_url: str, ledger: SecretsLedger, password: str) -> tuple[str, dict[str, object]]:
    """A new account on the live service at `base_url`, signed in; its password and tokens go into `ledger`."""
    email = f"live-{uuid.uuid4().hex[:12]}@example.com"
    ledger.add("password", password)
    with httpx.Client(base_url=base_url, timeout=10) as client:
        created = client.post("/auth/register", json={"email": email, "password": password, "display_name": "Live"})
        assert created.status_code == 201, created.text
        ledger.add_tokens(created.json())  # its device token
        tokens = client.post("/auth/login", json={"email": email, "password": password})
        assert tokens.status_code == 200, tokens.text
    ledger.add_tokens(tokens.json())
    return email, tokens.json()
