"""The two apps under test (the service, the fastapi-users reference app): their throwaway databases, starting
them in production mode, waiting until they are live, seeding users and tokens, stopping them, and deleting the
service's Redis keys afterwards."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from auth_service.adapters.security.tokens import generate_private_key_pem
from bench.config import BENCH, BENCH_PYTHON, PASSWORD, REPO, RUN_ID, SEED_USERS, SERVICE_PYTHON, WORKERS
from devenv.database_admin import create_database, drop_database
from devenv.processes import ProcessExited, free_port, start_logged, stop_process_group, wait_until_live
from devenv.services import with_database


@dataclass
class App:
    key: str
    label: str
    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    login_scenario: str
    tokens: list[str] = field(default_factory=list)
    refresh_tokens: list[str] = field(default_factory=list)


@contextmanager
def databases(admin: str) -> Iterator[dict[str, str]]:
    names = {"ours": f"bench_ours_{RUN_ID}", "ref": f"bench_ref_{RUN_ID}"}
    for name in names.values():
        asyncio.run(create_database(admin, name))
    try:
        yield {key: with_database(admin, name) for key, name in names.items()}
    finally:
        for name in names.values():
            with suppress(Exception):
                asyncio.run(drop_database(admin, name))


def start_service(database_url: str, redis_url: str, redis_prefix: str, logs: Path) -> App:
    """`python -m auth_service serve` with WORKERS workers and the per-IP limits out of the way."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "REDIS_KEY_PREFIX": redis_prefix,
        "JWT_PRIVATE_KEY": generate_private_key_pem(),
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "WEB_CONCURRENCY": str(WORKERS),
        "LOG_LEVEL": "WARNING",
        "LOGIN_MAX_FAILURES_PER_IP_PER_HOUR": "1000000",
        "LOGIN_MAX_ATTEMPTS_PER_IP_PER_HOUR": "1000000",
        "REGISTRATION_MAX_PER_IP_PER_HOUR": "1000000",
        # The refresh scenario chains each token hundreds of times a minute, the login scenario logs the 64 seed
        # accounts in over and over: the per-session refresh throttle and the session cap (whose Redis call and
        # query still run) would end the chains and evict the seeded sessions.
        "REFRESH_MAX_PER_SESSION_PER_MINUTE": "1000000",
        "MAX_SESSIONS_PER_ACCOUNT": "1000000",
        "TRUSTED_PROXY_COUNT": "1",  # the event's attendees arrive through one NAT address
        "ENVIRONMENT": "bench",
    }
    log_path = logs / "ours.log"
    process = start_logged(
        [str(SERVICE_PYTHON), "-m", "auth_service", "serve"], env=env, log_path=log_path, cwd=REPO, new_session=True
    )
    return App("ours", "aidlc-auth", f"http://127.0.0.1:{port}", process, log_path, "login_json")


def start_reference(database_url: str, logs: Path) -> App:
    """bench/reference_app.py (fastapi-users) under uvicorn with WORKERS workers, after creating its tables."""
    port = free_port()
    env = {**os.environ, "REFERENCE_DATABASE_URL": database_url, "REFERENCE_JWT_SECRET": secrets.token_urlsafe(32)}
    subprocess.run([str(BENCH_PYTHON), str(BENCH / "reference_app.py"), "create-tables"], env=env, cwd=REPO, check=True)
    log_path = logs / "ref.log"
    process = start_logged(
        [
            str(BENCH_PYTHON),
            "-m",
            "uvicorn",
            "--app-dir",
            str(BENCH),
            "reference_app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(WORKERS),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env=env,
        log_path=log_path,
        cwd=REPO,
        new_session=True,
    )
    return App("ref", "fastapi-users", f"http://127.0.0.1:{port}", process, log_path, "login_form")


def wait_live(app: App) -> None:
    try:
        wait_until_live(app.base_url, app.process, 60, interval=0.3)
    except ProcessExited:
        raise SystemExit(f"{app.label} exited:\n{app.log_path.read_text()[-3000:]}") from None
    except TimeoutError:
        raise SystemExit(f"{app.label} did not become live in 60 s:\n{app.log_path.read_text()[-3000:]}") from None


def stop(app: App) -> None:
    """Stop the app's process group (its uvicorn workers with it), and only that one."""
    stop_process_group(app.process)


def seed_email(i: int) -> str:
    return f"seed-{RUN_ID}-{i}@example.com"


async def seed(app: App, refresh_chains: int) -> None:
    """Register SEED_USERS users, log each in once for an access token, and open refresh chains."""
    limits = httpx.Limits(max_connections=8)
    async with httpx.AsyncClient(base_url=app.base_url, limits=limits, timeout=60) as client:
        gate = asyncio.Semaphore(8)

        async def register(i: int) -> None:
            async with gate:
                body = {"email": seed_email(i), "password": PASSWORD, "display_name": f"Seed {i}"}
                response = await client.post("/auth/register", json=body)
                if response.status_code != 201:
                    raise SystemExit(
                        f"{app.label}: seeding registration failed: {response.status_code} {response.text[:300]}"
                    )

        async def login(i: int) -> dict[str, Any]:
            async with gate:
                email = seed_email(i % SEED_USERS)
                if app.login_scenario == "login_form":
                    response = await client.post("/auth/jwt/login", data={"username": email, "password": PASSWORD})
                else:
                    response = await client.post("/auth/login", json={"email": email, "password": PASSWORD})
                if response.status_code != 200:
                    raise SystemExit(f"{app.label}: seeding login failed: {response.status_code} {response.text[:300]}")
                return dict(response.json())

        await asyncio.gather(*(register(i) for i in range(SEED_USERS)))
        pairs = await asyncio.gather(*(login(i) for i in range(SEED_USERS + refresh_chains)))
        app.tokens = [p["access_token"] for p in pairs[:SEED_USERS]]
        app.refresh_tokens = [p["refresh_token"] for p in pairs[SEED_USERS:]]
        me = await client.get("/users/me", headers={"Authorization": f"Bearer {app.tokens[0]}"})
        if me.status_code != 200:
            raise SystemExit(f"{app.label}: /users/me with a seeded token answered {me.status_code}")


def clean_redis(url: str, prefix: str) -> None:
    from redis import Redis

    client = Redis.from_url(url)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    for start in range(0, len(keys), 500):
        client.delete(*keys[start : start + 500])
    client.close()
