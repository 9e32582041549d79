"""What `make bench` measures: the closed-loop scenarios (me, login, refresh, register), the raw argon2id rate
they are compared with, and the open-loop ones (bench/openloop.py): login storms and the event."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.apps import App, seed_email
from bench.config import (
    BENCH,
    BENCH_PYTHON,
    CORES,
    DURATION,
    EVENT_ATTENDEES,
    EVENT_SECONDS,
    LOGIN_CONNECTIONS,
    ME_CONNECTIONS,
    PASSWORD,
    REFRESH_CONNECTIONS,
    REGISTER_CONNECTIONS,
    RUN_ID,
    SEED_USERS,
    STORM_SECONDS,
    log,
)
from bench.cpu_meter import CLOCK_TICKS, CpuMeter, wait_for_quiet
from bench.drivers import Load

STORM_FACTORS = (1, 2)  # offered login rate as a multiple of the raw argon2id verify rate measured in this run
VENUE_IP = "198.51.100.77"  # every attendee behind the venue's NAT
HEALTH_PROBE_INTERVAL = 0.02  # one probe every 20 ms while the login storm runs


def measure_raw_argon2(meter: CpuMeter) -> dict[str, float]:
    wait_for_quiet(meter)
    log(f"raw argon2id rate ({CORES} processes, nothing else running)")
    return dict(
        json.loads(
            subprocess.run(
                [str(BENCH_PYTHON), str(BENCH / "argon2_rate.py"), str(CORES), "4"],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )
    )


def scenarios(driver: str) -> list[tuple[str, str, Callable[[App], Load | None], Callable[[App], Load | None]]]:
    """(key, title, load for an app, optional latency probe running alongside)."""
    users = [f"{seed_email(i)}\t{PASSWORD}" for i in range(SEED_USERS)]
    probe = Load("get", 1, DURATION, path="/health/live", pace=HEALTH_PROBE_INTERVAL, driver="python")
    return [
        (
            "me",
            f"GET /users/me ({ME_CONNECTIONS} conns)",
            lambda app: Load(
                "get", ME_CONNECTIONS, DURATION, warmup=3, path="/users/me", items=app.tokens, driver=driver
            ),
            lambda app: None,
        ),
        (
            "login",
            f"POST login ({LOGIN_CONNECTIONS} conns)",
            lambda app: Load(app.login_scenario, LOGIN_CONNECTIONS, DURATION, warmup=3, items=users, driver=driver),
            lambda app: probe,
        ),
        (
            "refresh",
            f"POST /auth/refresh ({REFRESH_CONNECTIONS} conns)",
            lambda app: (
                Load("refresh", REFRESH_CONNECTIONS, DURATION, items=app.refresh_tokens, driver=driver)
                if app.refresh_tokens
                else None
            ),
            lambda app: None,
        ),
        (
            "register",
            f"POST /auth/register ({REGISTER_CONNECTIONS} conns)",
            lambda app: Load("register", REGISTER_CONNECTIONS, max(5.0, DURATION * 2 / 3), warmup=2, driver=driver),
            lambda app: None,
        ),
    ]


def run_openloop(spec: dict[str, Any], app: App, meter: CpuMeter) -> dict[str, Any]:
    """bench/openloop.py in the bench virtualenv; returns its JSON plus the load average around the run and the
    CPU seconds the app's processes used during it."""
    workdir = Path(tempfile.mkdtemp(prefix="bench-openloop-"))
    try:
        (workdir / "spec.json").write_text(json.dumps(spec))
        load_before = os.getloadavg()
        before = meter.sample()
        completed = subprocess.run(
            [str(BENCH_PYTHON), str(BENCH / "openloop.py"), str(workdir / "spec.json")],
            capture_output=True,
            text=True,
            timeout=900,
        )
        after = meter.sample()
        if completed.returncode != 0:
            raise SystemExit(f"openloop.py failed:\n{completed.stderr[-3000:]}")
        result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
        result["cpu_cores"] = CpuMeter.cores_used(before, after)
        result["server_cpu_seconds"] = round(
            (after.groups.get(app.key, 0) - before.groups.get(app.key, 0)) / CLOCK_TICKS, 2
        )
        result["load_average_before"] = [round(x, 2) for x in load_before]
        result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
        return result
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def run_storms(app: App, raw: dict[str, float], meter: CpuMeter) -> dict[str, Any]:
    """Logins arriving at 1x and 2x the raw verify rate: accepted-login latency and how much is shed."""
    results: dict[str, Any] = {}
    for factor in STORM_FACTORS:
        wait_for_quiet(meter, patience=20)
        rate = round(raw["verify_per_s"] * factor, 1)
        log(f"login storm at {factor}x capacity ({rate}/s, {STORM_SECONDS:.0f} s) against {app.label}")
        results[f"{factor}x"] = run_openloop(
            {
                "mode": "storm",
                "base_url": app.base_url,
                "rate": rate,
                "seconds": STORM_SECONDS,
                "emails": [seed_email(i) for i in range(SEED_USERS)],
                "password": PASSWORD,
                "login_form": app.login_scenario == "login_form",
            },
            app,
            meter,
        )
    return results


def run_event(app: App, database_url: str, meter: CpuMeter) -> dict[str, Any]:
    """EVENT_ATTENDEES seeded accounts log in over EVENT_SECONDS from one NAT address, then read and refresh."""
    emails = [f"attendee-{RUN_ID}-{i}@example.com" for i in range(EVENT_ATTENDEES)]
    asyncio.run(_seed_attendees(database_url, emails))
    wait_for_quiet(meter, patience=20)
    log(f"event: {EVENT_ATTENDEES} attendees over {EVENT_SECONDS:.0f} s from {VENUE_IP} against {app.label}")
    return run_openloop(
        {
            "mode": "event",
            "base_url": app.base_url,
            "seconds": EVENT_SECONDS,
            "emails": emails,
            "password": PASSWORD,
            "client_ip": VENUE_IP,
        },
        app,
        meter,
    )


async def _seed_attendees(database_url: str, emails: list[str]) -> None:
    from auth_service.adapters.postgres.database import create_engine
    from auth_service.settings import Settings
    from bench.seeding import seed_users

    engine = create_engine(Settings(database_url=database_url).sqlalchemy_url(), sslmode="prefer", pool_size=1)
    try:
        started = time.monotonic()
        await seed_users(engine, emails, PASSWORD)
        log(f"seeded {len(emails)} attendees in {time.monotonic() - started:.1f} s")
    finally:
        await engine.dispose()
