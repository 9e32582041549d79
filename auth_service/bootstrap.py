"""Composition root: the only module that knows every adapter. `create_app(settings)` wires them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from functools import partial

from fastapi import FastAPI
from pydantic import SecretStr
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from auth_service.adapters.http.app import create_http_app
from auth_service.adapters.metrics.emf import EmfAuthMetrics, EmfRetentionMetrics, EmfThrottleAuditMetrics
from auth_service.adapters.postgres.database import (
    CertificateUnusable,
    create_engine,
    is_certificate_rejection,
    migrate,
    ping,
)
from auth_service.adapters.postgres.repositories import PostgresUnitOfWorkFactory, is_unavailability
from auth_service.adapters.postgres.retention import PostgresRetentionStore
from auth_service.adapters.redis.caches import (
    RedisProfileCache,
    RedisSessionAndProfileCache,
    RedisSessionCache,
)
from auth_service.adapters.redis.client import RedisGateway, create_redis
from auth_service.adapters.redis.rate_limiter import RateLimits, RedisRateLimiter, SourceLimits
from auth_service.adapters.security.common_passwords import ZxcvbnCommonPasswords
from auth_service.adapters.security.cpu_budget import available_cpus, hashing_threads_per_worker
from auth_service.adapters.security.hashing import Argon2PasswordHasher
from auth_service.adapters.security.refresh_tokens import HmacRefreshTokenCodec, refresh_key_from
from auth_service.adapters.security.tokens import JwtTokenIssuer, generate_private_key_pem, load_private_key
from auth_service.application.account import (
    ChangePassword,
    DeleteAccount,
    GetOwnProfile,
    GetProfile,
    ListSessions,
    Reauthenticate,
    RevokeSession,
    UpdateProfile,
)
from auth_service.application.audit import AggregatedThrottleAudit, flush_on_shutdown, flush_periodically
from auth_service.application.authentication import (
    Authenticate,
    Login,
    Logout,
    LogoutAll,
    PublicSigningKeys,
    Refresh,
)
from auth_service.application.devices import DevicePolicy, KnownDevices
from auth_service.application.errors import DependencyUnavailable
from auth_service.application.passwords import NormalizedPasswords
from auth_service.application.ports import (
    AuthMetrics,
    Clock,
    CommonPasswords,
    PasswordHasher,
    ProfileCache,
    RateLimiter,
    RefreshBudget,
    RefreshTokenCodec,
    RetentionMetrics,
    SessionAndProfileCache,
    SessionCache,
    ThrottleAudit,
    TokenIssuer,
    UnitOfWorkFactory,
)
from auth_service.application.registration import Register
from auth_service.application.retention import PurgeExpiredData, RetentionPolicy, purge_periodically
from auth_service.application.service import AuthService
from auth_service.application.sessions import SessionCap, SessionLimits
from auth_service.application.unblock import Lifted, LiftThrottles
from auth_service.domain.errors import InvalidEmail
from auth_service.domain.model import SessionPolicy
from auth_service.logs import configure_logging
from auth_service.settings import Settings, shared_egress_networks

log = logging.getLogger(__name__)

READINESS_TIMEOUT_SECONDS = 1.0
MIGRATION_ATTEMPTS = 30
TOMBSTONE_MARGIN_SECONDS = 60
# The throttle audit's last flush on shutdown (one INSERT, milliseconds when PostgreSQL answers): after the 20 s
# uvicorn gives requests to finish, inside the 30 s between ECS's SIGTERM and its SIGKILL.
SHUTDOWN_FLUSH_TIMEOUT_SECONDS = 5.0
DEVELOPMENT_ENVIRONMENTS = frozenset({"local", "development", "test"})


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def ensure_signing_key(settings: Settings) -> Settings:
    """Local development without JWT_PRIVATE_KEY gets an ephemeral key (tokens die with the process)."""
    if settings.jwt_private_key is not None:
        return settings
    if settings.environment not in DEVELOPMENT_ENVIRONMENTS:
        # Every task would sign with its own key and reject the others' tokens: refuse to start.
        raise RuntimeError(f"JWT_PRIVATE_KEY is required when ENVIRONMENT={settings.environment!r}")
    log.warning("JWT_PRIVATE_KEY is not set: generated an ephemeral Ed25519 signing key (development only)")
    pem = generate_private_key_pem()
    os.environ["JWT_PRIVATE_KEY"] = pem  # uvicorn workers started after this share the key
    return settings.model_copy(update={"jwt_private_key": SecretStr(pem)})


def hash_concurrency(settings: Settings) -> int:
    """HASH_CONCURRENCY when set, else sized to this worker's share of the CPUs the process really has."""
    if settings.hash_concurrency is not None:
        return settings.hash_concurrency
    return hashing_threads_per_worker(available_cpus(), settings.web_concurrency)


def connect_database(settings: Settings) -> AsyncEngine:
    return create_engine(
        settings.sqlalchemy_url(),
        sslmode=settings.db_sslmode,
        sslrootcert=settings.db_sslrootcert,
        pool_size=settings.db_pool_size,
    )


def connect_redis(settings: Settings) -> Redis:
    token = settings.redis_auth_token.get_secret_value() if settings.redis_auth_token else None
    return create_redis(
        settings.redis_url,
        token,
        max_connections=settings.redis_max_connections,
        pool_wait=settings.redis_pool_wait_seconds,
    )


async def migrate_with_retry(settings: Settings) -> None:
    """Apply migrations, retrying while the database does not accept connections yet (a task may start first)."""
    engine = connect_database(settings)
    try:
        for attempt in range(1, MIGRATION_ATTEMPTS + 1):
            try:
                await migrate(engine)
                return
            except Exception as exc:
                if is_certificate_rejection(exc):
                    raise CertificateUnusable(
                        f"PostgreSQL's TLS certificate did not verify (DB_SSLMODE={settings.db_sslmode}, "
                        f"DB_SSLROOTCERT={settings.db_sslrootcert!r}): {exc}"
                    ) from exc
                if attempt == MIGRATION_ATTEMPTS or not is_unavailability(exc):
                    raise
                log.warning("database not reachable yet (attempt %d): %s", attempt, type(exc).__name__)
            await asyncio.sleep(min(2.0, 0.2 * attempt))
    finally:
        await engine.dispose()


def password_hasher(settings: Settings) -> Argon2PasswordHasher:
    """The real hasher, sized as `serve` sizes it."""
    return Argon2PasswordHasher(concurrency=hash_concurrency(settings), queue_limit=settings.hash_queue_limit)


def rate_limits(settings: Settings) -> RateLimits:
    return RateLimits(
        max_failures_per_account=settings.login_max_failures_per_account_per_hour,
        max_failures_per_device=settings.login_max_failures_per_device_per_hour,
        free_failures_before_backoff=settings.login_free_failures_before_backoff,
        max_login_attempts_per_device=settings.login_max_attempts_per_device_per_hour,
        ordinary_source=SourceLimits(
            failures=settings.login_max_failures_per_ip_per_hour,
            login_attempts=settings.login_max_attempts_per_ip_per_hour,
            registrations=settings.registration_max_per_ip_per_hour,
        ),
        shared_source=SourceLimits(
            failures=settings.shared_egress_max_failures_per_ip_per_hour,
            login_attempts=settings.shared_egress_max_attempts_per_ip_per_hour,
            registrations=settings.shared_egress_max_registrations_per_ip_per_hour,
        ),
        shared_egress=shared_egress_networks(settings.shared_egress_cidrs),
    )


def device_policy(settings: Settings) -> DevicePolicy:
    return DevicePolicy(
        ttl=timedelta(seconds=settings.device_token_ttl_seconds), per_account=settings.device_tokens_per_account
    )


def retention_purge(
    settings: Settings, engine: AsyncEngine, clock: Clock, metrics: RetentionMetrics | None = None
) -> PurgeExpiredData:
    return PurgeExpiredData(
        store=PostgresRetentionStore(engine),
        clock=clock,
        metrics=metrics or EmfRetentionMetrics(settings.service_name),
        policy=RetentionPolicy(
            ended_sessions=timedelta(days=settings.ended_session_retention_days),
            audit_events=timedelta(days=settings.audit_retention_days),
            batch_size=settings.purge_batch_size,
            max_batches=settings.purge_max_batches,
        ),
    )


def wire_use_cases(
    *,
    uow: UnitOfWorkFactory,
    throttle_audit: ThrottleAudit,
    hasher: PasswordHasher,
    tokens: TokenIssuer,
    common_passwords: CommonPasswords,
    limiter: RateLimiter,
    session_cache: SessionCache,
    profile_cache: ProfileCache,
    session_and_profile_cache: SessionAndProfileCache,
    metrics: AuthMetrics,
    clock: Clock,
    session_policy: SessionPolicy,
    devices: DevicePolicy,
    refresh_tokens: RefreshTokenCodec,
    session_limits: SessionLimits,
) -> AuthService:
    """Each use case gets the ports it names, and nothing else."""
    session_cap = SessionCap(
        uow=uow, session_cache=session_cache, metrics=metrics, max_sessions=session_limits.max_sessions_per_account
    )
    authenticate = Authenticate(uow=uow, tokens=tokens, session_cache=session_cache, clock=clock)
    get_profile = GetProfile(uow=uow, profile_cache=profile_cache)
    reauthenticate = Reauthenticate(
        uow=uow, hasher=hasher, limiter=limiter, metrics=metrics, clock=clock, throttle_audit=throttle_audit
    )
    known_devices = KnownDevices(uow=uow, clock=clock, policy=devices)
    return AuthService(
        register=Register(
            uow=uow,
            hasher=hasher,
            common_passwords=common_passwords,
            limiter=limiter,
            metrics=metrics,
            clock=clock,
            devices=known_devices,
            throttle_audit=throttle_audit,
        ),
        login=Login(
            uow=uow,
            hasher=hasher,
            limiter=limiter,
            tokens=tokens,
            metrics=metrics,
            clock=clock,
            session_policy=session_policy,
            devices=known_devices,
            refresh_tokens=refresh_tokens,
            session_cap=session_cap,
            throttle_audit=throttle_audit,
        ),
        refresh=Refresh(
            uow=uow,
            tokens=tokens,
            refresh_tokens=refresh_tokens,
            budget=session_limits.refresh_budget,
            session_cache=session_cache,
            metrics=metrics,
            clock=clock,
            grace=session_limits.refresh_grace,
        ),
        authenticate=authenticate,
        logout=Logout(uow=uow, session_cache=session_cache, clock=clock),
        logout_all=LogoutAll(uow=uow, session_cache=session_cache, clock=clock),
        get_profile=get_profile,
        get_own_profile=GetOwnProfile(
            tokens=tokens, caches=session_and_profile_cache, authenticate=authenticate, get_profile=get_profile
        ),
        update_profile=UpdateProfile(uow=uow, profile_cache=profile_cache, clock=clock),
        change_password=ChangePassword(
            reauthenticate=reauthenticate,
            uow=uow,
            hasher=hasher,
            common_passwords=common_passwords,
            session_cache=session_cache,
            profile_cache=profile_cache,
            clock=clock,
        ),
        delete_account=DeleteAccount(
            reauthenticate=reauthenticate,
            uow=uow,
            session_cache=session_cache,
            profile_cache=profile_cache,
            clock=clock,
        ),
        list_sessions=ListSessions(uow=uow, clock=clock),
        revoke_session=RevokeSession(uow=uow, session_cache=session_cache, clock=clock),
        public_jwks=PublicSigningKeys(tokens=tokens),
    )


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    hasher: PasswordHasher | None = None,
    common_passwords: CommonPasswords | None = None,
    metrics: AuthMetrics | None = None,
    redis: Redis | None = None,
) -> FastAPI:
    """Build the service. Keyword arguments replace the real adapters without patching anything: tests pass a
    fixed clock, a cheaper hasher, a metrics recorder, or a Redis client of their own (`redis`: the caller keeps
    it and closes it; by default one is connected from `settings` and closed with the app)."""
    settings = ensure_signing_key(settings)
    assert settings.jwt_private_key is not None
    clock = clock or SystemClock()
    engine = connect_database(settings)
    redis_client = redis or connect_redis(settings)
    gateway = RedisGateway(redis_client, settings.redis_key_prefix)
    hasher = hasher or password_hasher(settings)
    session_cache = RedisSessionCache(
        gateway, clock, tombstone_ttl=settings.access_token_ttl_seconds + TOMBSTONE_MARGIN_SECONDS
    )
    profile_cache = RedisProfileCache(gateway)
    signing_key = load_private_key(settings.jwt_private_key.get_secret_value())
    uow = PostgresUnitOfWorkFactory(engine)
    throttle_audit = AggregatedThrottleAudit(
        uow=uow, metrics=EmfThrottleAuditMetrics(settings.service_name), max_keys=settings.throttle_audit_max_keys
    )
    service = wire_use_cases(
        uow=uow,
        throttle_audit=throttle_audit,
        hasher=NormalizedPasswords(hasher),
        tokens=JwtTokenIssuer(
            signing_key,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            ttl_seconds=settings.access_token_ttl_seconds,
        ),
        common_passwords=common_passwords or ZxcvbnCommonPasswords(),
        limiter=RedisRateLimiter(gateway, clock, rate_limits(settings)),
        session_cache=session_cache,
        profile_cache=profile_cache,
        session_and_profile_cache=RedisSessionAndProfileCache(gateway, session_cache, profile_cache),
        metrics=metrics or EmfAuthMetrics(settings.service_name),
        clock=clock,
        session_policy=SessionPolicy(
            absolute_lifetime=timedelta(seconds=settings.refresh_token_ttl_seconds),
            idle_timeout=timedelta(seconds=settings.session_idle_timeout_seconds),
        ),
        devices=device_policy(settings),
        refresh_tokens=HmacRefreshTokenCodec(refresh_key_from(signing_key)),
        session_limits=SessionLimits(
            refresh_grace=timedelta(seconds=settings.refresh_reuse_grace_seconds),
            max_sessions_per_account=settings.max_sessions_per_account,
            refresh_budget=RefreshBudget(
                capacity=settings.refresh_max_per_session_per_minute,
                per_second=settings.refresh_max_per_session_per_minute / 60,
            ),
        ),
    )
    purge = retention_purge(settings, engine, clock)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        purging = (
            asyncio.create_task(purge_periodically(purge, settings.purge_interval_seconds))
            if settings.purge_interval_seconds
            else None
        )
        flushing = asyncio.create_task(flush_periodically(throttle_audit, settings.throttle_audit_flush_seconds))
        yield
        for task in (flushing, purging):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await flush_on_shutdown(throttle_audit, SHUTDOWN_FLUSH_TIMEOUT_SECONDS)
        if redis is None:
            await redis_client.aclose()
        await engine.dispose()
        if isinstance(hasher, Argon2PasswordHasher):
            hasher.close()

    return create_http_app(
        service,
        readiness_probes={
            "postgresql": partial(ping, engine, READINESS_TIMEOUT_SECONDS),
            "redis": partial(_redis_ready, gateway),
        },
        trusted_proxy_count=settings.trusted_proxy_count,
        max_request_body_bytes=settings.max_request_body_bytes,
        device_cookie_max_age=settings.device_token_ttl_seconds,
        lifespan=lifespan,
    )


async def _redis_ready(gateway: RedisGateway) -> None:
    try:
        async with asyncio.timeout(READINESS_TIMEOUT_SECONDS):
            await gateway.ping()
    except TimeoutError as exc:
        raise DependencyUnavailable("redis") from exc


async def lift_throttles(settings: Settings, *, email: str | None, ip: str | None, operator: str) -> Lifted:
    """`python -m auth_service unblock`: the same Redis and PostgreSQL the service uses, for one command. An
    address that is no email is a ValueError (the command line says so)."""
    engine = connect_database(settings)
    redis_client = connect_redis(settings)
    try:
        limiter = RedisRateLimiter(
            RedisGateway(redis_client, settings.redis_key_prefix), SystemClock(), rate_limits(settings)
        )
        lift = LiftThrottles(limiter=limiter, uow=PostgresUnitOfWorkFactory(engine), clock=SystemClock())
        return await lift(email=email, ip=ip, operator=operator)
    except InvalidEmail as exc:
        raise ValueError(f"--account: {exc.message}") from None
    finally:
        await redis_client.aclose()
        await engine.dispose()


def app_from_environment() -> FastAPI:
    """Factory for `uvicorn --factory` (each worker process builds its own app)."""
    settings = Settings()
    configure_logging(settings.log_level)
    return create_app(settings)
