"""Service configuration, read once from environment variables.

The names here are a contract with the Pulumi task definition (components/compute.py);
tests/infra/test_contract.py fails if the two drift apart.
"""

from __future__ import annotations

import ipaddress
from typing import Literal
from urllib.parse import quote

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def shared_egress_networks(cidrs: str) -> tuple[Network, ...]:
    """`SHARED_EGRESS_CIDRS`: comma-separated networks (`198.51.100.7/32`, `2001:db8::/48`); blanks ignored."""
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in cidrs.split(",") if entry.strip())


SslMode = Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    # PostgreSQL: either a full URL or the parts (the task definition passes the parts).
    database_url: SecretStr | None = None
    db_host: str | None = None
    db_port: int = 5432
    db_name: str = "aidlc_auth"
    db_user: str = "aidlc_user"
    db_password: SecretStr | None = None
    db_sslmode: SslMode = "prefer"
    # CA bundle (PEM) for verify-ca / verify-full; the image carries Amazon RDS's (auth_service/Dockerfile).
    db_sslrootcert: str | None = None
    db_pool_size: int = Field(default=5, ge=1)  # + as many overflow; staging sets 2 (docs/operations.md)

    # Redis: redis:// or rediss:// (ElastiCache with transit encryption).
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_auth_token: SecretStr | None = None
    redis_key_prefix: str = "aidlc-auth:"
    # Per worker; past it a request waits up to REDIS_POOL_WAIT_SECONDS for a free connection, then gets 503.
    redis_max_connections: int = Field(default=64, ge=1)
    redis_pool_wait_seconds: float = Field(default=2.0, gt=0)

    # Tokens. Without a key the service generates an ephemeral one (local development only).
    jwt_private_key: SecretStr | None = None
    jwt_issuer: str = "aidlc-auth"
    jwt_audience: str = "aidlc"
    access_token_ttl_seconds: int = Field(default=900, ge=30)
    refresh_token_ttl_seconds: int = Field(default=14 * 24 * 3600, ge=60)
    session_idle_timeout_seconds: int = Field(default=3 * 24 * 3600, ge=60)

    # Abuse resistance (README, "Abuse resistance"; docs/operations.md, "Throttling rules").
    # Wrong passwords per account from devices that never logged in to it, all of them together (OWASP device
    # cookies): after `login_free_failures_before_backoff` of them, exponential backoff; at most this many an hour.
    login_max_failures_per_account_per_hour: int = Field(default=20, ge=1)
    # Wrong passwords per known device (a valid device token, or the signed-in session when re-authenticating).
    login_max_failures_per_device_per_hour: int = Field(default=20, ge=1)
    login_free_failures_before_backoff: int = Field(default=5, ge=1)  # per account (unknown devices) and per device
    # Per client address, token buckets: a burst up to the hourly number, then one more every 3600/N seconds, so a
    # drained address heals within seconds. Brakes on hashing work, never a door that stays shut for an hour.
    # Event attendees share the venue's public IP: sized so that ~2,000 of them register and log in within
    # minutes with retries and second devices, even if the venue's address was not listed below.
    login_max_failures_per_ip_per_hour: int = Field(default=2000, ge=1)
    login_max_attempts_per_ip_per_hour: int = Field(default=10_000, ge=1)
    registration_max_per_ip_per_hour: int = Field(default=5_000, ge=1)
    # Known devices skip the per-address buckets; their logins, right or wrong, are counted per device instead.
    login_max_attempts_per_device_per_hour: int = Field(default=120, ge=1)
    # Shared egress addresses (the venue NAT), comma-separated CIDRs, and their per-address limits.
    shared_egress_cidrs: str = ""
    shared_egress_max_failures_per_ip_per_hour: int = Field(default=10_000, ge=1)
    shared_egress_max_attempts_per_ip_per_hour: int = Field(default=50_000, ge=1)
    shared_egress_max_registrations_per_ip_per_hour: int = Field(default=25_000, ge=1)
    # Device tokens: how long one stays known without a login, and how many one account keeps.
    device_token_ttl_seconds: int = Field(default=30 * 24 * 3600, ge=60)
    device_tokens_per_account: int = Field(default=10, ge=1)
    trusted_proxy_count: int = Field(default=0, ge=0)
    # The largest legitimate body (a profile update) is under 3 KiB; anything far bigger is refused unread.
    max_request_body_bytes: int = Field(default=65536, ge=1024)

    # Session lifecycle (README "Tokens and sessions", docs/operations.md "Data retention").
    # A refresh token presented again this soon after its rotation gets the same successor pair (a client that
    # lost the response retries); later, or for any older token of the session, the whole session is revoked.
    refresh_reuse_grace_seconds: int = Field(default=10, ge=0, le=60)
    # Per session, a token bucket: a client refreshes every ~15 minutes; this is a brake on a loop.
    refresh_max_per_session_per_minute: int = Field(default=10, ge=1)
    # Active sessions per account; a login past it revokes the account's oldest sessions.
    max_sessions_per_account: int = Field(default=20, ge=1)
    # The retention purge: every interval (0: never), in batches, by one task at a time (an advisory lock).
    purge_interval_seconds: int = Field(default=300, ge=0)
    purge_batch_size: int = Field(default=1000, ge=1, le=10_000)
    purge_max_batches: int = Field(default=20, ge=1)
    ended_session_retention_days: int = Field(default=7, ge=1)
    audit_retention_days: int = Field(default=90, ge=1)
    # Every 429 is audited, as one row per (event type, limit, client address, account) and flush window, written
    # off the request path; at most this many keys per worker and window (docs/operations.md, "Throttling rules").
    throttle_audit_flush_seconds: float = Field(default=60, gt=0, le=3600)
    throttle_audit_max_keys: int = Field(default=1000, ge=1, le=4000)

    # Process.
    host: str = "0.0.0.0"  # noqa: S104 - the container must listen on all interfaces
    port: int = 8000
    web_concurrency: int = Field(default=1, ge=1)
    # argon2 threads per worker; unset: one per whole CPU of the worker's share of the CPUs the process really
    # has (affinity mask, capped by a cgroup CPU quota), at least one.
    hash_concurrency: int | None = Field(default=None, ge=1)
    # Password hashes queued or running per worker; past it 503 `overloaded` at once (see README).
    hash_queue_limit: int = Field(default=64, ge=1)
    log_level: str = "INFO"
    # Unset means a deployment: it must bring its own JWT_PRIVATE_KEY. `make run` and the tests say "local".
    environment: str = "deployment"
    service_name: str = "aidlc-auth"

    @field_validator("shared_egress_cidrs")
    @classmethod
    def _cidrs_parse(cls, value: str) -> str:
        shared_egress_networks(value)  # raises ValueError for an entry that is not a network
        return value

    @model_validator(mode="after")
    def _require_a_database(self) -> Settings:
        if self.database_url is None and self.db_host is None:
            raise ValueError("set DATABASE_URL, or DB_HOST with DB_NAME/DB_USER/DB_PASSWORD")
        return self

    def sqlalchemy_url(self) -> str:
        """An asyncpg URL; sslmode is passed separately (see connect_args)."""
        if self.database_url is not None:
            url = self.database_url.get_secret_value()
            for prefix in ("postgresql://", "postgres://"):
                if url.startswith(prefix):
                    return "postgresql+asyncpg://" + url[len(prefix) :]
            return url
        password = self.db_password.get_secret_value() if self.db_password else ""
        credentials = quote(self.db_user, safe="") + (":" + quote(password, safe="") if password else "")
        return f"postgresql+asyncpg://{credentials}@{self.db_host}:{self.db_port}/{quote(self.db_name, safe='')}"
