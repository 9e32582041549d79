"""Fixtures for the reliability and security tests.

`live_service` is the real thing: `python -m auth_service serve` as a subprocess at LOG_LEVEL=DEBUG on the run's
throwaway database, its JSON logs captured to a file. `secrets_ledger` (tests/support/secrets_ledger.py) collects
every secret the tests send or receive (passwords, tokens, the signing key) so test_log_secrets.py can prove none
of them reached a log.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from auth_service.settings import Settings
from tests.support.secrets_ledger import SecretsLedger
from tests.support.servers import ServiceProcess


@pytest.fixture(scope="session")
def secrets_ledger(signing_key: str) -> SecretsLedger:
    ledger = SecretsLedger()
    ledger.add("private key", signing_key)
    # The key's base64 body lines are secret on their own, even without the PEM armour.
    for line in signing_key.splitlines():
        if not line.startswith("-----"):
            ledger.add("private key material", line)
    return ledger


@pytest.fixture(scope="session")
def live_service(database_url: str, redis_base_url: str, signing_key: str) -> Iterator[ServiceProcess]:
    prefix = f"test-live-{uuid.uuid4().hex[:10]}:"
    process = ServiceProcess(
        {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_base_url,
            "REDIS_KEY_PREFIX": prefix,
            "JWT_PRIVATE_KEY": signing_key,
            "LOG_LEVEL": "DEBUG",
            "LOGIN_MAX_FAILURES_PER_IP_PER_HOUR": "100000",
            "LOGIN_MAX_ATTEMPTS_PER_IP_PER_HOUR": "100000",
            "REGISTRATION_MAX_PER_IP_PER_HOUR": "100000",
            # The fuzzer fails hundreds of logins, most with unparseable emails that share one throttle key; the tests
            # that use this process after it must not inherit that backoff (throttling has tests of its own).
            "LOGIN_MAX_FAILURES_PER_ACCOUNT_PER_HOUR": "100000",
            "LOGIN_FREE_FAILURES_BEFORE_BACKOFF": "100000",
            # The fuzzer logs one account in and refreshes its chains hundreds of times a minute: the session cap
            # and the refresh throttle have tests of their own (tests/service/integration/test_session_lifecycle.py).
            "MAX_SESSIONS_PER_ACCOUNT": "100000",
            "REFRESH_MAX_PER_SESSION_PER_MINUTE": "100000",
            "DB_POOL_SIZE": "5",
        }
    ).start()
    yield process
    process.close()
    client = redis.Redis.from_url(redis_base_url)
    keys = list(client.scan_iter(match=f"{prefix}*", count=500))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def timing_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"login_max_failures_per_account_per_hour": 100_000, "login_free_failures_before_backoff": 100_000}
    )
