"""The address the service records for a client behind the ALB, with forged X-Forwarded-For lines."""

import logging

import pytest

from auth_service.settings import Settings
from tests.support.app import STRONG_PASSWORD, bearer, serving, with_settings


async def test_sessions_record_the_address_the_trusted_proxy_appended(settings: Settings) -> None:
    async with serving(with_settings(settings, trusted_proxy_count=1)) as svc:
        user = await svc.register()
        forged_lines = [("x-forwarded-for", "6.6.6.6"), ("x-forwarded-for", "7.7.7.7, 198.51.100.23")]
        response = await svc.client.post(
            "/auth/login", json={"email": user["email"], "password": STRONG_PASSWORD}, headers=forged_lines
        )
        assert response.status_code == 200, response.text
        sessions = await svc.client.get("/auth/sessions", headers=bearer(response.json()["access_token"]))
        assert [s["ip"] for s in sessions.json()] == ["198.51.100.23"]


async def test_without_a_trusted_proxy_forged_lines_are_ignored(settings: Settings) -> None:
    async with serving(with_settings(settings, trusted_proxy_count=0)) as svc:
        user = await svc.register()
        response = await svc.client.post(
            "/auth/login",
            json={"email": user["email"], "password": STRONG_PASSWORD},
            headers=[("x-forwarded-for", "6.6.6.6")],
        )
        sessions = await svc.client.get("/auth/sessions", headers=bearer(response.json()["access_token"]))
        assert [s["ip"] for s in sessions.json()] == ["203.0.113.7"]  # the peer (tests/support/app.py)


async def test_the_access_log_carries_the_client_address_the_throttles_see(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    async with serving(with_settings(settings, trusted_proxy_count=1)) as svc:
        with caplog.at_level(logging.INFO, logger="auth_service.access"):
            await svc.client.get("/health/live", headers=[("x-forwarded-for", "6.6.6.6, 198.51.100.24")])
    (line,) = [r for r in caplog.records if r.name == "auth_service.access"]
    assert line.__dict__["client_ip"] == "198.51.100.24"
