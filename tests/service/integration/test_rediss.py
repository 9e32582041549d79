"""The service over `rediss://` with an AUTH token, the way it talks to ElastiCache with in-transit encryption."""

import secrets
import ssl

import pytest

from auth_service.adapters.redis.client import create_redis
from auth_service.settings import Settings
from tests.service.integration.helpers import assert_problem
from tests.support.app import serving, with_settings
from tests.support.servers import skip_or_fail_in_ci
from tests.support.tls import TlsRedisServer, TlsUnsupported


@pytest.fixture
def tls_redis(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    token = secrets.token_urlsafe(24)
    try:
        server = TlsRedisServer(password=token).__enter__()
    except TlsUnsupported as reason:
        skip_or_fail_in_ci(f"TLS Redis test: {reason}")
    # The default SSL context trusts SSL_CERT_FILE, the same way the container trusts the AWS CA bundle.
    monkeypatch.setenv("SSL_CERT_FILE", str(server.certificate.cert_file))
    assert ssl.get_default_verify_paths().openssl_cafile_env == "SSL_CERT_FILE"
    yield server
    server.__exit__()


async def test_full_flow_over_tls_with_an_auth_token(settings: Settings, tls_redis: TlsRedisServer) -> None:
    async with serving(with_settings(settings, redis_url=tls_redis.url, redis_auth_token=tls_redis.password)) as svc:
        ready = await svc.client.get("/health/ready")
        assert ready.status_code == 200, ready.text
        _, headers = await svc.signed_in_user()
        assert (await svc.client.get("/users/me", headers=headers)).status_code == 200
        await svc.client.post("/auth/logout", headers=headers)
        assert (await svc.client.get("/users/me", headers=headers)).status_code == 401
    on_the_tls_server = create_redis(tls_redis.url, tls_redis.password)
    try:
        assert await on_the_tls_server.dbsize() > 0  # the cache really lives there
    finally:
        await on_the_tls_server.aclose()


async def test_a_wrong_auth_token_is_not_ready(settings: Settings, tls_redis: TlsRedisServer) -> None:
    async with serving(with_settings(settings, redis_url=tls_redis.url, redis_auth_token="wrong-token")) as svc:
        body = assert_problem(await svc.client.get("/health/ready"), 503, "not_ready")
        assert body["failed"] == ["redis"]


async def test_an_untrusted_certificate_is_refused(
    settings: Settings, tls_redis: TlsRedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE")
    async with serving(with_settings(settings, redis_url=tls_redis.url, redis_auth_token=tls_redis.password)) as svc:
        assert_problem(await svc.client.get("/health/ready"), 503, "not_ready")
