"""CPU per request, in process: what a login costs beside its argon2id verify, and what /users/me and refresh cost.

Wall-clock throughput on a shared machine is noisy; CPU time of the one process doing the work is not. This
builds the service exactly as `serve` does (`create_app`, real PostgreSQL and Redis, the real argon2id hasher
with HASH_CONCURRENCY=1), drives it through ASGI with a small in-process client (no sockets, no uvicorn HTTP
parsing), and reads `time.process_time()` before and after N requests. For logins it then verifies the same
password N times on the same hasher and subtracts: what remains is the per-login CPU beside the hash.

    .venv/bin/python bench/cpu_profile.py            # totals (ms of CPU per request)
    .venv/bin/python bench/cpu_profile.py --profile  # plus a cProfile breakdown by library
    .venv/bin/python bench/cpu_profile.py --stages   # plus event-loop CPU per login stage

The breakdown counts only the event-loop thread (cProfile does not follow the hashing thread) and cProfile
inflates Python-heavy code relative to C, so read its shares as proportions, the totals as the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from auth_service.adapters.postgres.database import create_engine, migrate  # noqa: E402
from auth_service.adapters.security.hashing import Argon2PasswordHasher  # noqa: E402
from auth_service.adapters.security.tokens import generate_private_key_pem  # noqa: E402
from auth_service.bootstrap import create_app, password_hasher  # noqa: E402
from auth_service.settings import Settings  # noqa: E402
from bench.apps import clean_redis  # noqa: E402
from bench.seeding import seed_users  # noqa: E402
from devenv.database_admin import create_database, drop_database  # noqa: E402
from devenv.services import admin_postgres_url, redis_url, with_database  # noqa: E402

RESULTS = REPO / "bench" / "results"
PASSWORD = "Profile-Marmalade-Tundra-42"
CONCURRENCY = 8
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
Asgi = Callable[..., Awaitable[None]]

# Library -> bucket, matched against the file path of each profiled function (first match wins).
BUCKETS = [
    ("argon2 (main thread)", ("argon2", "passlib")),
    ("sqlalchemy", ("sqlalchemy",)),
    ("asyncpg", ("asyncpg",)),
    ("redis-py", ("redis",)),
    ("jwt + cryptography", ("jwt", "cryptography")),
    ("pydantic", ("pydantic",)),
    ("fastapi + starlette", ("fastapi", "starlette")),
    ("asyncio event loop", ("asyncio", "selectors", "uvloop")),
    ("logging", ("logging", "auth_service/logs")),
    ("auth_service", ("auth_service",)),
]


async def call(
    app: Asgi, method: str, path: str, *, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    """One HTTP request straight into the ASGI app."""
    raw_headers = [(b"host", b"bench"), (b"user-agent", b"cpu-profile"), (b"x-forwarded-for", b"198.51.100.7")]
    if body:
        raw_headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": raw_headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    sent = False
    status = 0
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.Event().wait()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


async def run_all(jobs: list[Callable[[], Awaitable[None]]]) -> None:
    queue = list(reversed(jobs))

    async def worker() -> None:
        while queue:
            await queue.pop()()

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))


class Measured:
    def __init__(self, profile: bool) -> None:
        self.profile = profile
        self.results: dict[str, Any] = {}

    async def measure(self, name: str, jobs: list[Callable[[], Awaitable[None]]], subtract_ms: float = 0.0) -> None:
        profiler = cProfile.Profile(time.thread_time) if self.profile else None  # CPU of this thread
        started_hashing = hashing_thread_cpu()
        started_cpu, started_wall, started_loop = time.process_time(), time.perf_counter(), time.thread_time()
        if profiler:
            profiler.enable()
        await run_all(jobs)
        if profiler:
            profiler.disable()
        loop = time.thread_time() - started_loop
        cpu = time.process_time() - started_cpu
        wall = time.perf_counter() - started_wall
        hashing = hashing_thread_cpu() - started_hashing
        per_request = cpu * 1000 / len(jobs)
        entry: dict[str, Any] = {
            "requests": len(jobs),
            "cpu_ms_per_request": round(per_request, 3),
            "loop_thread_cpu_ms_per_request": round(loop * 1000 / len(jobs), 3),
            "wall_s": round(wall, 2),
        }
        if subtract_ms:
            entry["argon2_verify_cpu_ms"] = round(subtract_ms, 3)
            entry["hashing_thread_cpu_ms"] = round(hashing * 1000 / len(jobs), 3)
            # Two ways to the same figure: minus the hashing threads' own CPU (exact), and minus a separately
            # measured verify (the method behind the earlier ~9 ms estimate).
            entry["cpu_ms_beside_hash"] = round((cpu - hashing) * 1000 / len(jobs), 3)
            entry["cpu_ms_beside_separate_verify"] = round(per_request - subtract_ms, 3)
        if profiler:
            profiler.dump_stats(str(RESULTS / f"cpu-profile-{name}.pstats"))
            entry["profile_ms_per_request"] = breakdown(profiler, len(jobs))
            entry["top_functions_ms"] = top_functions(profiler, len(jobs))
        # Repeated rounds keep the cheapest: on a shared machine, contention only ever adds CPU time.
        key = "cpu_ms_beside_hash" if subtract_ms else "loop_thread_cpu_ms_per_request"
        previous = self.results.get(name)
        entry["rounds"] = previous["rounds"] + 1 if previous else 1
        if previous is None or entry[key] < previous[key]:
            self.results[name] = entry
        else:
            previous["rounds"] = entry["rounds"]
        summary = {k: v for k, v in entry.items() if k not in ("profile_ms_per_request", "top_functions_ms")}
        print(f"{name:<10} {json.dumps(summary)}", file=sys.stderr, flush=True)
        if "profile_ms_per_request" in entry:
            print(f"{'':<10} {json.dumps(entry['profile_ms_per_request'])}", file=sys.stderr, flush=True)


def hashing_thread_cpu() -> float:
    """CPU seconds used so far by the hasher's threads (named argon2_N), read per thread from /proc."""
    total = 0
    for thread in threading.enumerate():
        if thread.name.startswith("argon2") and thread.native_id is not None:
            fields = Path(f"/proc/self/task/{thread.native_id}/stat").read_text().rpartition(")")[2].split()
            total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def breakdown(profiler: cProfile.Profile, requests: int) -> dict[str, float]:
    stats = pstats.Stats(profiler)
    totals: dict[str, float] = {}
    for (filename, _, _), (_, _, own_time, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        bucket = next((name for name, needles in BUCKETS if any(n in filename for n in needles)), "other")
        totals[bucket] = totals.get(bucket, 0.0) + own_time
    return {k: round(v * 1000 / requests, 3) for k, v in sorted(totals.items(), key=lambda kv: -kv[1])}


def top_functions(profiler: cProfile.Profile, requests: int, count: int = 25) -> dict[str, float]:
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    ranked = sorted(stats.items(), key=lambda kv: -kv[1][2])[:count]
    return {
        f"{Path(f).name}:{line}:{fn}": round(own * 1000 / requests, 3) for (f, line, fn), (_, _, own, _, _) in ranked
    }


async def verify_cpu_ms(hasher: Argon2PasswordHasher, count: int) -> float:
    """CPU of one argon2id verify on the service's own hasher (the work every login must do)."""
    stored = await hasher.hash(PASSWORD)
    started = time.process_time()
    for _ in range(count):
        await hasher.verify(PASSWORD, stored)
    return (time.process_time() - started) * 1000 / count


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--profile", action="store_true", help="add a cProfile breakdown by library")
    parser.add_argument("--logins", type=int, default=200)
    parser.add_argument("--reads", type=int, default=4000)
    parser.add_argument("--refreshes", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3, help="repeat each measurement, keep the cheapest")
    parser.add_argument(
        "--stages",
        action="store_true",
        help="finally, event-loop CPU per login stage (sequential logins, instrumented)",
    )
    parser.add_argument(
        "--background-hashing",
        action="store_true",
        help="keep one argon2id verify running in another thread while me/refresh/live are measured "
        "(what a login storm does to the loop's cache and memory bandwidth)",
    )
    args = parser.parse_args()

    RESULTS.mkdir(exist_ok=True)
    admin = admin_postgres_url()
    name = f"cpu_profile_{uuid.uuid4().hex[:8]}"
    await create_database(admin, name)
    url = with_database(admin, name)
    prefix = f"cpu-profile-{uuid.uuid4().hex[:8]}:"
    settings = Settings(
        database_url=url,
        redis_url=redis_url(),
        redis_key_prefix=prefix,
        jwt_private_key=generate_private_key_pem(),
        environment="bench",
        log_level="WARNING",
        hash_concurrency=1,
        trusted_proxy_count=1,
        login_max_failures_per_ip_per_hour=1_000_000,
        # Each chain is refreshed many times within seconds, each account logged in once per round: the per-session
        # throttle and the session cap would stop the measurement (their Redis call and query are still measured).
        refresh_max_per_session_per_minute=1_000_000,
        max_sessions_per_account=1_000_000,
    )
    try:
        engine = create_engine(settings.sqlalchemy_url(), sslmode="prefer", pool_size=1)
        await migrate(engine)
        emails = await seed_users(engine, [f"attendee-{i}@example.com" for i in range(args.logins)], PASSWORD)
        await engine.dispose()

        hasher = password_hasher(settings)  # the one `serve` would build, handed over so it can be measured
        app = create_app(settings, hasher=hasher)
        measured = Measured(args.profile)
        async with app.router.lifespan_context(app):
            verify_ms = await verify_cpu_ms(hasher, 40)
            pairs: list[dict[str, Any]] = []

            def login(email: str) -> Callable[[], Awaitable[None]]:
                async def run() -> None:
                    status, body = await call(
                        app, "POST", "/auth/login", body=json.dumps({"email": email, "password": PASSWORD}).encode()
                    )
                    assert status == 200, (status, body)
                    pairs.append(json.loads(body))

                return run

            def me(token: str) -> Callable[[], Awaitable[None]]:
                async def run() -> None:
                    status, body = await call(app, "GET", "/users/me", headers={"authorization": f"Bearer {token}"})
                    assert status == 200, (status, body)

                return run

            def refresh(chain: int) -> Callable[[], Awaitable[None]]:
                async def run() -> None:
                    status, body = await call(
                        app, "POST", "/auth/refresh", body=json.dumps({"refresh_token": chains[chain]}).encode()
                    )
                    assert status == 200, (status, body)
                    chains[chain] = json.loads(body)["refresh_token"]

                return run

            tokens: list[str] = []
            chains: list[str] = []
            stop_hashing = threading.Event()
            if args.background_hashing:
                threading.Thread(target=_hash_until, args=(stop_hashing,), daemon=True).start()
            for _ in range(args.rounds):
                pairs.clear()
                await measured.measure("login", [login(e) for e in emails], subtract_ms=verify_ms)
                tokens[:] = [p["access_token"] for p in pairs]
                chains[:] = [p["refresh_token"] for p in pairs]
                await run_all([me(t) for t in tokens])  # warm the caches as a steady state would
                await measured.measure("me", [me(tokens[i % len(tokens)]) for i in range(args.reads)])
                # Chain i is refreshed again only 200 requests later, so no token is ever presented twice.
                await measured.measure("refresh", [refresh(i % len(chains)) for i in range(args.refreshes)])
                await measured.measure("live", [lambda: _live(app) for _ in range(args.reads)])
            stop_hashing.set()
            if args.stages:
                measured.results["login_stages_ms"] = await login_stages(app, emails)
                print(json.dumps(measured.results["login_stages_ms"], indent=1), file=sys.stderr)
        report = {
            "background_hashing": args.background_hashing,
            "hash_concurrency": hasher.concurrency,
            "load_average": os.getloadavg(),
            "results": measured.results,
        }
        RESULTS.mkdir(exist_ok=True)
        path = RESULTS / f"cpu-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
        path.write_text(json.dumps(report, indent=2))
        print(f"full results: {path.relative_to(REPO)}", file=sys.stderr)
    finally:
        await drop_database(admin, name)
        await asyncio.to_thread(clean_redis, settings.redis_url, prefix)


def _hash_until(stop: threading.Event) -> None:
    from auth_service.adapters.security.hashing import make_context

    context = make_context()
    stored = context.hash(PASSWORD)
    while not stop.is_set():
        context.verify(PASSWORD, stored)


async def login_stages(app: Any, emails: list[str]) -> dict[str, float]:
    """Sequential logins (one at a time, so a coroutine's thread CPU is its own), event-loop CPU per stage."""
    from auth_service.adapters.metrics.emf import EmfAuthMetrics
    from auth_service.adapters.postgres import repositories
    from auth_service.adapters.redis.rate_limiter import RedisRateLimiter
    from auth_service.adapters.security.tokens import JwtTokenIssuer
    from auth_service.application.passwords import NormalizedPasswords

    totals: dict[str, float] = {}

    def timed(owner: Any, name: str, label: str) -> None:
        original = getattr(owner, name, None)
        if original is None:  # not in this version of the code
            return
        is_async = asyncio.iscoroutinefunction(original)

        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.thread_time()
            try:
                return await original(*args, **kwargs)
            finally:
                totals[label] = totals.get(label, 0.0) + time.thread_time() - started

        def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                totals[label] = totals.get(label, 0.0) + time.thread_time() - started

        setattr(owner, name, async_wrapper if is_async else sync_wrapper)

    # Timed on the adapter classes the app was built with, as the repositories below are.
    timed(RedisRateLimiter, "check", "Redis: throttle check (EVALSHA)")
    timed(RedisRateLimiter, "reset_account", "Redis: reset the account's failures (DEL)")
    timed(RedisRateLimiter, "reserve_guess", "Redis: throttle check + reservation (EVALSHA)")
    timed(RedisRateLimiter, "record_correct_guess", "Redis: release the reservation, clear the account's failures")
    timed(NormalizedPasswords, "verify", "argon2 hand-off to the hashing thread (loop side)")
    timed(JwtTokenIssuer, "issue", "JWT: sign the access token (Ed25519)")
    timed(EmfAuthMetrics, "count", "metrics: EMF line")
    timed(repositories.PostgresUserRepository, "get_by_email", "PostgreSQL: user by email (execute)")
    timed(
        repositories.PostgresSessionRepository,
        "add_after_login",
        "PostgreSQL: session + refresh token + audit (execute)",
    )
    timed(repositories.PostgresSessionRepository, "add", "PostgreSQL: session + refresh token (execute)")
    timed(repositories.PostgresAuditLog, "record", "PostgreSQL: audit row (execute)")
    timed(repositories.PostgresUserRepository, "lock", "PostgreSQL: user row lock (execute)")
    timed(repositories.PostgresUnitOfWork, "__aenter__", "PostgreSQL: connection checkout (+BEGIN)")
    timed(repositories.PostgresUnitOfWork, "__aexit__", "PostgreSQL: connection return")
    timed(repositories.PostgresUnitOfWork, "commit", "PostgreSQL: COMMIT")
    use_case = type(app.state.auth_service.login)
    timed(use_case, "__call__", "Login use case, all of it")
    started = time.thread_time()
    for email in emails:
        status, body = await call(
            app, "POST", "/auth/login", body=json.dumps({"email": email, "password": PASSWORD}).encode()
        )
        assert status == 200, (status, body)
    whole = time.thread_time() - started
    per_login = {
        label: round(seconds * 1000 / len(emails), 3)
        for label, seconds in sorted(totals.items(), key=lambda kv: -kv[1])
    }
    return {"event loop CPU per login, whole request": round(whole * 1000 / len(emails), 3), **per_login}


async def _live(app: Asgi) -> None:
    status, _ = await call(app, "GET", "/health/live")
    assert status == 200


if __name__ == "__main__":
    os.environ.setdefault("ENVIRONMENT", "bench")
    try:
        import uvloop  # what uvicorn runs in production
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())
