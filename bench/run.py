"""`make bench`: the service and a fastapi-users reference app, side by side, on this machine.

Runs with the service's virtualenv (.venv: devenv finds or starts PostgreSQL/Redis, auth_service makes the
signing key); the reference app and the Python load generator run from .venv-bench (bench/requirements.txt).
Steps: raw argon2id rate -> throwaway databases -> both apps in production mode (WEB_CONCURRENCY workers
each) -> seed users and tokens -> scenarios, each against both apps -> table on stdout and
bench/results/<timestamp>.json -> stop both apps, drop the databases, delete the Redis keys.

Environment knobs: BENCH_DRIVER=auto|wrk|python (auto: wrk when installed), BENCH_DURATION (s, default 15),
BENCH_APPS=ours,ref, BENCH_SCENARIOS=me,login,refresh,register,storm,event, BENCH_WRK_THREADS (default 1),
BENCH_WORKERS (default: cores), BENCH_EVENT_ATTENDEES (2000), BENCH_EVENT_SECONDS (60), BENCH_STORM_SECONDS (15),
BENCH_QUIET_PATIENCE (seconds to wait for a quiet machine before each step).

This file is the order of the steps; what each step does lives beside it: config.py (knobs, paths, the run's
identity), cpu_meter.py, apps.py (start, seed, stop), drivers.py (wrk or loadgen.py), scenarios.py, report.py.
The process plumbing (free ports, waiting for live, stopping a process group) is devenv/processes.py, shared with
the tests.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import shutil
import sys
import tempfile
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.apps import App, clean_redis, databases, seed, start_reference, start_service, stop, wait_live
from bench.config import (
    APPS,
    BENCH_PYTHON,
    CORES,
    DURATION,
    EVENT_ATTENDEES,
    EVENT_SECONDS,
    LOGIN_CONNECTIONS,
    ME_CONNECTIONS,
    REFRESH_CONNECTIONS,
    REGISTER_CONNECTIONS,
    REPO,
    RESULTS,
    RUN_ID,
    SCENARIOS,
    SEED_USERS,
    WORKERS,
    log,
)
from bench.cpu_meter import CpuMeter, wait_for_quiet
from bench.drivers import driver_name, run_load
from bench.report import evaluate, ratios, table
from bench.scenarios import measure_raw_argon2, run_event, run_storms, scenarios
from devenv.services import admin_postgres_url, redis_url


def start_apps(
    apps: dict[str, App], urls: dict[str, str], redis_base: str, prefix: str, logs: Path, meter: CpuMeter
) -> None:
    """Start the apps BENCH_APPS names (into `apps` as they start, so the caller stops whatever did), wait until
    they are live and seed them."""
    if "ours" in APPS:
        apps["ours"] = start_service(urls["ours"], redis_base, prefix, logs)
        meter.roots["ours"] = apps["ours"].process.pid
    if "ref" in APPS:
        apps["ref"] = start_reference(urls["ref"], logs)
        meter.roots["ref"] = apps["ref"].process.pid
    for app in apps.values():
        wait_live(app)
        log(f"{app.label} live at {app.base_url}; seeding {SEED_USERS} users")
        asyncio.run(seed(app, REFRESH_CONNECTIONS if app.key == "ours" and "refresh" in SCENARIOS else 0))


def run_scenarios(
    apps: dict[str, App], urls: dict[str, str], driver: str, meter: CpuMeter
) -> tuple[dict[str, dict[str, Any]], dict[str, str], dict[str, float]]:
    """Every scenario BENCH_SCENARIOS names, against every app: (results per app, titles, raw argon2id rate)."""
    raw: dict[str, float] = {}
    results: dict[str, dict[str, Any]] = {key: {} for key in apps}
    titles: dict[str, str] = {}
    for key, title, make_load, make_probe in scenarios(driver):
        if key not in SCENARIOS:
            continue
        if not raw and key in ("login", "register"):  # measured next to the storms it is compared with
            raw = measure_raw_argon2(meter)
        titles[key] = title
        for app in apps.values():
            load = make_load(app)
            if load is None:
                continue
            background = wait_for_quiet(meter, patience=20)
            log(f"{title} against {app.label} ({load.duration:.0f} s)")
            result = run_load(app, load, meter, make_probe(app))
            result["background_cores_before"] = round(background, 2)
            results[app.key][key] = result
    if "storm" in SCENARIOS:
        raw = raw or measure_raw_argon2(meter)
        titles["storm"] = "open-loop login storm at 1x and 2x the raw verify rate"
        for app in apps.values():
            results[app.key]["storm"] = run_storms(app, raw, meter)
    if "event" in SCENARIOS and "ours" in apps:
        titles["event"] = f"event: {EVENT_ATTENDEES} attendees over {EVENT_SECONDS:.0f} s, one NAT IP"
        results["ours"]["event"] = run_event(apps["ours"], urls["ours"], meter)
    raw = raw or measure_raw_argon2(meter)
    return results, titles, raw


def build_report(
    driver: str, raw: dict[str, float], titles: dict[str, str], results: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    report = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "driver": driver,
        "machine": {
            "cores": CORES,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "wrk": shutil.which("wrk") is not None,
        },
        "workers_per_app": WORKERS,
        "duration_s": DURATION,
        "argon2_raw": raw,
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "connections": {
            "me": ME_CONNECTIONS,
            "login": LOGIN_CONNECTIONS,
            "refresh": REFRESH_CONNECTIONS,
            "register": REGISTER_CONNECTIONS,
        },
        "scenario_titles": titles,
        "results": results,
    }
    report["ratios"] = ratios(results, raw)
    report["targets"] = evaluate(results, raw)
    return report


def main() -> int:
    if not BENCH_PYTHON.exists():
        raise SystemExit("missing .venv-bench: run `make bench`")
    driver = driver_name()
    meter = CpuMeter()
    log(f"driver: {driver}")
    admin, redis_base = admin_postgres_url(), redis_url()
    prefix = f"bench-{RUN_ID}:"
    logs = Path(tempfile.mkdtemp(prefix="bench-logs-"))
    apps: dict[str, App] = {}
    report: dict[str, Any] = {}
    try:
        with databases(admin) as urls:
            start_apps(apps, urls, redis_base, prefix, logs, meter)
            results, titles, raw = run_scenarios(apps, urls, driver, meter)
            report = build_report(driver, raw, titles, results)
    finally:
        for app in apps.values():
            stop(app)
        with suppress(Exception):
            clean_redis(redis_base, prefix)
        shutil.rmtree(logs, ignore_errors=True)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(report, indent=2))
    print(table(report))
    print(f"\nfull results: {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
