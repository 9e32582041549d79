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
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402

from auth_service.adapters.security.tokens import generate_private_key_pem  # noqa: E402
from devenv.database_admin import create_database, drop_database  # noqa: E402
from devenv.services import admin_postgres_url, redis_url, with_database  # noqa: E402

BENCH_PYTHON = REPO / ".venv-bench" / "bin" / "python"
SERVICE_PYTHON = REPO / ".venv" / "bin" / "python"
RESULTS = BENCH / "results"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
CORES = os.cpu_count() or 1

DURATION = float(os.environ.get("BENCH_DURATION", "15"))
WORKERS = int(os.environ.get("BENCH_WORKERS", str(CORES)))
APPS = [a for a in os.environ.get("BENCH_APPS", "ours,ref").split(",") if a]
SCENARIOS = [s for s in os.environ.get("BENCH_SCENARIOS", "me,login,refresh,register,storm,event").split(",") if s]
EVENT_ATTENDEES = int(os.environ.get("BENCH_EVENT_ATTENDEES", "2000"))
EVENT_SECONDS = float(os.environ.get("BENCH_EVENT_SECONDS", "60"))
STORM_SECONDS = float(os.environ.get("BENCH_STORM_SECONDS", "15"))
STORM_FACTORS = (1, 2)  # offered login rate as a multiple of the raw argon2id verify rate measured in this run
VENUE_IP = "198.51.100.77"  # every attendee behind the venue's NAT
PLANNING_UTILISATION = 0.7  # plan tasks to run at most this busy: queueing delay grows sharply beyond it
WRK_THREADS = int(os.environ.get("BENCH_WRK_THREADS", "1"))
SEED_USERS = 64
ME_CONNECTIONS = 64
LOGIN_CONNECTIONS = 32
REFRESH_CONNECTIONS = 64
REGISTER_CONNECTIONS = 32
HEALTH_PROBE_INTERVAL = 0.02  # one probe every 20 ms while the login storm runs
PASSWORD = "Bench-" + secrets.token_hex(6) + "-Marmalade"
RUN_ID = uuid.uuid4().hex[:8]

TARGETS = {
    "me_throughput_ratio": 3.0,
    "login_throughput_ratio": 1.0,
    "login_fraction_of_raw_verify": 0.95,
    "login_p99_vs_fastapi_users": 1.0,
    "health_p99_ms_during_login": 20.0,
    "refresh_rps": 1000.0,
}


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- CPU accounting (/proc)

def _proc_stats() -> dict[int, tuple[int, str, int]]:
    """pid -> (ppid, comm, utime+stime ticks) for every process."""
    stats: dict[int, tuple[int, str, int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        stats[int(entry)] = (int(fields[1]), comm, int(fields[11]) + int(fields[12]))
    return stats


def _machine_ticks() -> tuple[int, int]:
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values[:8]) - idle, idle


@dataclass
class CpuSample:
    at: float
    busy: int
    idle: int
    groups: dict[str, int]


class CpuMeter:
    """CPU seconds per group of processes: each app's process tree, PostgreSQL, Redis, everything else."""

    def __init__(self) -> None:
        self.roots: dict[str, int] = {}

    def sample(self) -> CpuSample:
        stats = _proc_stats()
        children: dict[int, list[int]] = {}
        for pid, (ppid, _, _) in stats.items():
            children.setdefault(ppid, []).append(pid)
        groups: dict[str, int] = {}
        claimed: set[int] = set()
        for name, root in self.roots.items():
            stack, total = [root], 0
            while stack:
                pid = stack.pop()
                if pid in stats and pid not in claimed:
                    claimed.add(pid)
                    total += stats[pid][2]
                    stack.extend(children.get(pid, []))
            groups[name] = total
        groups["postgres"] = sum(t for pid, (_, c, t) in stats.items() if c == "postgres" and pid not in claimed)
        groups["redis"] = sum(t for pid, (_, c, t) in stats.items() if c.startswith("redis-server"))
        busy, idle = _machine_ticks()
        return CpuSample(time.monotonic(), busy, idle, groups)

    @staticmethod
    def cores_used(before: CpuSample, after: CpuSample) -> dict[str, float]:
        seconds = after.at - before.at
        used = {name: (after.groups.get(name, 0) - ticks) / CLOCK_TICKS / seconds
                for name, ticks in before.groups.items()}
        used["machine_busy"] = (after.busy - before.busy) / CLOCK_TICKS / seconds
        return {k: round(v, 2) for k, v in used.items()}


def wait_for_quiet(meter: CpuMeter, limit_cores: float = 0.3, patience: float = 60.0) -> float:
    """Other people's builds on this machine skew every number: wait (bounded) until it is nearly idle."""
    deadline = time.monotonic() + float(os.environ.get("BENCH_QUIET_PATIENCE", patience))
    while True:
        before = meter.sample()
        time.sleep(1.0)
        busy = CpuMeter.cores_used(before, meter.sample())["machine_busy"]
        if busy <= limit_cores or time.monotonic() > deadline:
            return busy
        log(f"machine busy ({busy:.2f} cores used by other processes); waiting for it to settle")


# --------------------------------------------------------------------------- processes

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class App:
    key: str
    label: str
    base_url: str
    process: subprocess.Popen[bytes]
    login_scenario: str
    tokens: list[str] = field(default_factory=list)
    refresh_tokens: list[str] = field(default_factory=list)


def start_process(args: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with open(log_path, "wb") as out:
        return subprocess.Popen(args, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Stop a process group this script started (and only that one)."""
    if process.poll() is not None:
        return
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=25)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def wait_live(app_label: str, base_url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{app_label} exited:\n{log_path.read_text()[-3000:]}")
        with suppress(httpx.HTTPError):
            if httpx.get(base_url + "/health/live", timeout=1).status_code == 200:
                return
        time.sleep(0.3)
    raise SystemExit(f"{app_label} did not become live in 60 s:\n{log_path.read_text()[-3000:]}")


# --------------------------------------------------------------------------- seeding

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
                    raise SystemExit(f"{app.label}: seeding registration failed: {response.status_code} "
                                     f"{response.text[:300]}")

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


def seed_email(i: int) -> str:
    return f"seed-{RUN_ID}-{i}@example.com"


# --------------------------------------------------------------------------- drivers

def driver_name() -> str:
    wanted = os.environ.get("BENCH_DRIVER", "auto")
    if wanted == "auto":
        return "wrk" if shutil.which("wrk") else "python"
    if wanted == "wrk" and not shutil.which("wrk"):
        raise SystemExit("BENCH_DRIVER=wrk but wrk is not installed")
    return wanted


@dataclass
class Load:
    scenario: str  # get | login_json | login_form | register | refresh
    connections: int
    duration: float
    warmup: float = 0.0
    path: str = "/"
    items: list[str] = field(default_factory=list)
    pace: float = 0.0
    driver: str = "python"


def _wait_rusage(process: subprocess.Popen[bytes], timeout: float) -> float:
    """Wait for a child and return the CPU seconds it used (children included)."""
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            process.returncode = os.waitstatus_to_exitcode(status)
            return float(usage.ru_utime + usage.ru_stime)
        if time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
        time.sleep(0.05)


class Running:
    """A load generator run in a child process; `result()` waits for it and parses its output."""

    def __init__(self, app: App, load: Load) -> None:
        self.load = load
        self.driver = load.driver
        self.workdir = Path(tempfile.mkdtemp(prefix="bench-"))
        self.out = self.workdir / "out.txt"
        if self.driver == "wrk":
            data = self.workdir / "data.txt"
            data.write_text("".join(item + "\n" for item in load.items))
            threads = min(WRK_THREADS, load.connections)
            env = {**os.environ, "BENCH_SCENARIO": load.scenario, "BENCH_PATH": load.path,
                   "BENCH_DATA": str(data) if load.items else "", "BENCH_THREADS": str(threads),
                   "BENCH_PREFIX": f"load-{RUN_ID}-{secrets.token_hex(3)}", "BENCH_PASSWORD": PASSWORD}
            args = ["wrk", "-t", str(threads), "-c", str(load.connections), "-d", f"{int(load.duration)}s",
                    "--timeout", "10s", "-s", str(BENCH / "scenario.lua"), app.base_url]
        else:
            spec: dict[str, Any] = {
                "base_url": app.base_url, "scenario": load.scenario, "connections": load.connections,
                "duration": load.duration, "warmup": load.warmup, "path": load.path, "pace": load.pace,
                "max_requests": 2_000_000, "email_prefix": f"load-{RUN_ID}-{secrets.token_hex(3)}",
                "password": PASSWORD,
            }
            if load.scenario == "get":
                spec["tokens"] = load.items
            elif load.scenario == "refresh":
                spec["refresh_tokens"] = load.items
            elif load.scenario.startswith("login"):
                spec["users"] = [item.split("\t", 1) for item in load.items]
            (self.workdir / "spec.json").write_text(json.dumps(spec))
            args = [str(BENCH_PYTHON), str(BENCH / "loadgen.py"), str(self.workdir / "spec.json")]
            env = dict(os.environ)
        with open(self.out, "wb") as out:
            self.process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env,
                                            start_new_session=True)

    def result(self) -> dict[str, Any]:
        cpu = _wait_rusage(self.process, self.load.duration + self.load.warmup + 60)
        text = self.out.read_text()
        shutil.rmtree(self.workdir, ignore_errors=True)
        if self.process.returncode != 0:
            raise SystemExit(f"load generator failed ({self.process.returncode}):\n{text[-3000:]}")
        if self.driver == "wrk":
            line = next((x for x in text.splitlines() if x.startswith("BENCH_JSON ")), None)
            if line is None:
                raise SystemExit(f"wrk printed no result:\n{text[-3000:]}")
            raw = json.loads(line[len("BENCH_JSON "):])
            seconds = raw["duration_us"] / 1e6
            socket_errors = raw["connect"] + raw["read"] + raw["write"] + raw["timeout"]
            ok = raw["requests"] - raw["status"]
            result = {
                "requests": raw["requests"] + raw["timeout"], "ok": ok, "errors": raw["status"] + socket_errors,
                "error_kinds": {k: raw[k] for k in ("status", "connect", "read", "write", "timeout") if raw[k]},
                "seconds": round(seconds, 3), "rps": round(ok / seconds, 1),
                "p50_ms": raw["p50_us"] / 1000, "p95_ms": raw["p95_us"] / 1000, "p99_ms": raw["p99_us"] / 1000,
                "max_ms": raw["max_us"] / 1000, "driver": "wrk",
            }
            failures = [x[len("BENCH_FIRST_FAILURE "):] for x in text.splitlines()
                        if x.startswith("BENCH_FIRST_FAILURE ")]
            if failures:
                result["first_failures"] = failures
        else:
            result = json.loads(text.strip().splitlines()[-1])
        result["generator_cpu_seconds"] = round(cpu, 2)
        result["generator_cores"] = round(cpu / self.load.duration, 2)
        return result


def run_load(app: App, load: Load, meter: CpuMeter, probe: Load | None = None) -> dict[str, Any]:
    if load.warmup:  # a separate short run, so the CPU meter below sees only the measured window
        Running(app, Load(**{**load.__dict__, "duration": load.warmup, "warmup": 0.0})).result()
        load = Load(**{**load.__dict__, "warmup": 0.0})
    before = meter.sample()
    running = Running(app, load)
    prober = Running(app, probe) if probe else None
    result = running.result()
    after = meter.sample()
    cpu = CpuMeter.cores_used(before, after)
    if prober is not None:
        result["probe"] = prober.result()
        cpu["probe_generator"] = result["probe"]["generator_cores"]
    cpu["generator"] = result["generator_cores"]
    cpu["other"] = round(max(0.0, cpu["machine_busy"] - sum(v for k, v in cpu.items()
                                                            if k not in ("machine_busy", "other"))), 2)
    result["cpu_cores"] = cpu
    server = cpu.get(app.key, 0.0)
    result["server_cores"] = server
    result["rps_per_server_core"] = round(result["rps"] / server, 1) if server > 0 else None
    return result


# --------------------------------------------------------------------------- scenarios

def scenarios(driver: str) -> list[tuple[str, str, Callable[[App], Load | None], Callable[[App], Load | None]]]:
    """(key, title, load for an app, optional latency probe running alongside)."""
    users = [f"{seed_email(i)}\t{PASSWORD}" for i in range(SEED_USERS)]
    probe = Load("get", 1, DURATION, path="/health/live", pace=HEALTH_PROBE_INTERVAL, driver="python")
    return [
        ("me", f"GET /users/me ({ME_CONNECTIONS} conns)",
         lambda app: Load("get", ME_CONNECTIONS, DURATION, warmup=3, path="/users/me", items=app.tokens,
                          driver=driver), lambda app: None),
        ("login", f"POST login ({LOGIN_CONNECTIONS} conns)",
         lambda app: Load(app.login_scenario, LOGIN_CONNECTIONS, DURATION, warmup=3, items=users, driver=driver),
         lambda app: probe),
        ("refresh", f"POST /auth/refresh ({REFRESH_CONNECTIONS} conns)",
         lambda app: Load("refresh", REFRESH_CONNECTIONS, DURATION, items=app.refresh_tokens, driver=driver)
         if app.refresh_tokens else None, lambda app: None),
        ("register", f"POST /auth/register ({REGISTER_CONNECTIONS} conns)",
         lambda app: Load("register", REGISTER_CONNECTIONS, max(5.0, DURATION * 2 / 3), warmup=2, driver=driver),
         lambda app: None),
    ]


# --------------------------------------------------------------------------- open-loop scenarios

def run_openloop(spec: dict[str, Any], app: App, meter: CpuMeter) -> dict[str, Any]:
    """bench/openloop.py in the bench virtualenv; returns its JSON plus the load average around the run and the
    CPU seconds the app's processes used during it."""
    workdir = Path(tempfile.mkdtemp(prefix="bench-openloop-"))
    try:
        (workdir / "spec.json").write_text(json.dumps(spec))
        load_before = os.getloadavg()
        before = meter.sample()
        completed = subprocess.run([str(BENCH_PYTHON), str(BENCH / "openloop.py"), str(workdir / "spec.json")],
                                   capture_output=True, text=True, timeout=900)
        after = meter.sample()
        if completed.returncode != 0:
            raise SystemExit(f"openloop.py failed:\n{completed.stderr[-3000:]}")
        result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
        result["cpu_cores"] = CpuMeter.cores_used(before, after)
        result["server_cpu_seconds"] = round((after.groups.get(app.key, 0) - before.groups.get(app.key, 0))
                                             / CLOCK_TICKS, 2)
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
        results[f"{factor}x"] = run_openloop({
            "mode": "storm", "base_url": app.base_url, "rate": rate, "seconds": STORM_SECONDS,
            "emails": [seed_email(i) for i in range(SEED_USERS)], "password": PASSWORD,
            "login_form": app.login_scenario == "login_form"}, app, meter)
    return results


def run_event(app: App, database_url: str, meter: CpuMeter) -> dict[str, Any]:
    """EVENT_ATTENDEES seeded accounts log in over EVENT_SECONDS from one NAT address, then read and refresh."""
    emails = [f"attendee-{RUN_ID}-{i}@example.com" for i in range(EVENT_ATTENDEES)]
    asyncio.run(_seed_attendees(database_url, emails))
    wait_for_quiet(meter, patience=20)
    log(f"event: {EVENT_ATTENDEES} attendees over {EVENT_SECONDS:.0f} s from {VENUE_IP} against {app.label}")
    return run_openloop({"mode": "event", "base_url": app.base_url, "seconds": EVENT_SECONDS, "emails": emails,
                         "password": PASSWORD, "client_ip": VENUE_IP}, app, meter)


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


# --------------------------------------------------------------------------- report

def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b else None


def _verdict(target: str, measured: float | None, met: bool) -> dict[str, Any]:
    return {"target": target, "measured": measured, "met": measured is not None and met}


def evaluate(results: dict[str, Any], raw: dict[str, float]) -> dict[str, Any]:
    ours, ref = results.get("ours", {}), results.get("ref", {})
    verdicts: dict[str, Any] = {}
    if "me" in ours:
        r = ratio(ours["me"]["rps"], ref.get("me", {}).get("rps"))
        verdicts["me_throughput_ratio"] = _verdict(f">= {TARGETS['me_throughput_ratio']}x fastapi-users", r,
                                                   (r or 0) >= TARGETS["me_throughput_ratio"])
    if "login" in ours:
        r = ratio(ours["login"]["rps"], ref.get("login", {}).get("rps"))
        verdicts["login_throughput_ratio"] = _verdict(f">= {TARGETS['login_throughput_ratio']}x fastapi-users", r,
                                                      (r or 0) >= TARGETS["login_throughput_ratio"])
        fraction = round(ours["login"]["rps"] / raw["verify_per_s"], 3)
        verdicts["login_fraction_of_raw_verify"] = _verdict(
            f">= {TARGETS['login_fraction_of_raw_verify']:.0%} of raw argon2id verifies/s", fraction,
            fraction >= TARGETS["login_fraction_of_raw_verify"])
        p99 = ratio(ours["login"]["p99_ms"], ref.get("login", {}).get("p99_ms"))
        verdicts["login_p99_vs_fastapi_users"] = _verdict("ours / fastapi-users login p99 <= 1.0", p99,
                                                          (p99 or 99) <= TARGETS["login_p99_vs_fastapi_users"])
        probe = ours["login"]["probe"]["p99_ms"]
        verdicts["health_p99_ms_during_login"] = _verdict(f"<= {TARGETS['health_p99_ms_during_login']} ms", probe,
                                                          probe <= TARGETS["health_p99_ms_during_login"])
    if "refresh" in ours:
        rps = ours["refresh"]["rps"]
        verdicts["refresh_rps"] = _verdict(f">= {TARGETS['refresh_rps']:.0f} req/s on {CORES} cores", rps,
                                           rps >= TARGETS["refresh_rps"])
    return verdicts


def fmt(value: Any, spec: str = ".1f") -> str:
    if value is None:
        return "n/a"
    return format(value, spec) if isinstance(value, (int, float)) else str(value)


def table(report: dict[str, Any]) -> str:
    results, raw = report["results"], report["argon2_raw"]
    lines = [
        f"driver={report['driver']}  cores={CORES}  workers/app={WORKERS}  duration={DURATION:.0f}s  "
        f"argon2id raw ({CORES} procs, m=19456 t=2 p=1): {raw['hash_per_s']:.1f} hashes/s, "
        f"{raw['verify_per_s']:.1f} verifies/s ({raw['verify_cpu_ms']:.1f} ms CPU per verify = "
        f"{raw['verify_per_s_per_core']:.1f}/s per core)",
        "",
        f"{'scenario':<34}{'app':<15}{'RPS':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>8}"
        f"{'srv cores':>10}{'gen cores':>10}{'RPS/srv core':>13}{'others':>8}",
    ]
    lines.append("-" * len(lines[-1]))
    labels = {"ours": "aidlc-auth", "ref": "fastapi-users"}
    for key, title in report["scenario_titles"].items():
        if key in ("storm", "event"):
            continue
        for app in ("ours", "ref"):
            r = results.get(app, {}).get(key)
            if r is None:
                if app in results:
                    lines.append(f"{title:<34}{labels[app]:<15}{'n/a (no such endpoint)':>30}")
                continue
            lines.append(
                f"{title:<34}{labels[app]:<15}{r['rps']:>9.1f}{r['p50_ms']:>9.1f}{r['p95_ms']:>9.1f}"
                f"{r['p99_ms']:>9.1f}{r['errors']:>8}{r['server_cores']:>10.2f}{r['generator_cores']:>10.2f}"
                f"{fmt(r['rps_per_server_core']):>13}{r['cpu_cores']['other']:>8.2f}")
            if "probe" in r:
                p = r["probe"]
                lines.append(f"{'  /health/live during that storm':<34}{labels[app]:<15}{p['rps']:>9.1f}"
                             f"{p['p50_ms']:>9.1f}{p['p95_ms']:>9.1f}{p['p99_ms']:>9.1f}{p['errors']:>8}")
        title = None
    lines.extend(storm_table(results))
    lines.extend(event_table(results.get("ours", {}).get("event")))
    lines.append("")
    lines.append("ratios (aidlc-auth / fastapi-users):")
    for key, value in report["ratios"].items():
        lines.append(f"  {key:<52}{fmt(value, '.2f')}")
    lines.append("")
    lines.append("targets:")
    for key, verdict in report["targets"].items():
        lines.append(f"  {'met' if verdict['met'] else 'MISSED':<8}{key:<32} measured {fmt(verdict['measured'], '.3g')}"
                     f"  (target {verdict['target']})")
    return "\n".join(lines)


def storm_table(results: dict[str, Any]) -> list[str]:
    labels = {"ours": "aidlc-auth", "ref": "fastapi-users"}
    rows = [(labels[app], factor, r) for app in ("ours", "ref")
            for factor, r in results.get(app, {}).get("storm", {}).items()]
    if not rows:
        return []
    lines = ["", "open-loop login storm (offered = multiple of the raw argon2id verify rate in this run):",
             f"{'app':<15}{'offered':>9}{'/s':>8}{'accepted/s':>12}{'p50 ms':>9}{'p99 ms':>10}{'shed rate':>11}"
             f"{'other failures':>16}  load avg"]
    for label, factor, r in rows:
        other = r["requests"] - r["ok"] - r["outcomes"].get("shed_503_overloaded", 0)
        lines.append(f"{label:<15}{factor:>9}{r['offered_per_s']:>8.1f}{r['accepted_per_s']:>12.1f}"
                     f"{fmt(r['p50_ms']):>9}{fmt(r['p99_ms']):>10}{r['shed_rate']:>11.1%}{other:>16}  "
                     f"{r['load_average_before'][0]:.2f}")
    return lines


def per_attendee_ms(event: dict[str, Any]) -> float:
    return float(event["server_cpu_seconds"]) * 1000 / max(1, event["attendees_fully_served"])


def attendees_per_task_minute(event: dict[str, Any]) -> float:
    """A 0.5 vCPU task supplies 0.5 CPU-seconds per second."""
    return 0.5 * 60 * 1000 / per_attendee_ms(event) if per_attendee_ms(event) else 0.0


def event_table(event: dict[str, Any] | None) -> list[str]:
    if not event:
        return []
    lines = ["", f"event: {event['attendees']} attendees arriving over {event['arrival_seconds']:.0f} s from one "
             f"client IP (X-Forwarded-For, TRUSTED_PROXY_COUNT=1): completed in {event['completion_seconds']} s, "
             f"{event['attendees_fully_served']} fully served; load avg before {event['load_average_before'][0]:.2f}",
             f"service CPU: {event['server_cpu_seconds']} s = {per_attendee_ms(event):.1f} ms per attendee (login + "
             f"profile + refresh); a 0.5 vCPU task at 100 % carries {attendees_per_task_minute(event):.0f} attendees "
             f"a minute at that cost: {1000 / attendees_per_task_minute(event):.2f} tasks per 1,000 attendees/minute "
             f"at 100 % CPU, {1000 / attendees_per_task_minute(event) / PLANNING_UTILISATION:.2f} at "
             f"{PLANNING_UTILISATION:.0%}",
             f"{'step':<10}{'requests':>9}{'ok':>7}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>10}{'shed rate':>11}  outcomes"]
    for name, step in event["steps"].items():
        lines.append(f"{name:<10}{step['requests']:>9}{step['ok']:>7}{fmt(step['p50_ms']):>9}{fmt(step['p95_ms']):>9}"
                     f"{fmt(step['p99_ms']):>10}{step['shed_rate']:>11.1%}  {json.dumps(step['outcomes'])}")
    return lines


def ratios(results: dict[str, Any], raw: dict[str, float]) -> dict[str, float | None]:
    ours, ref = results.get("ours", {}), results.get("ref", {})
    out: dict[str, float | None] = {}
    for key in ("me", "login", "register"):
        if key in ours or key in ref:
            out[f"{key} throughput"] = ratio(ours.get(key, {}).get("rps"), ref.get(key, {}).get("rps"))
            out[f"{key} p99 (fastapi-users / ours, >1 = ours faster)"] = ratio(
                ref.get(key, {}).get("p99_ms"), ours.get(key, {}).get("p99_ms"))
    if "login" in ours or "login" in ref:
        out["health p99 during login (fastapi-users / ours)"] = ratio(
            ref.get("login", {}).get("probe", {}).get("p99_ms"), ours.get("login", {}).get("probe", {}).get("p99_ms"))
        out["ours: login / raw verify rate"] = ratio(ours.get("login", {}).get("rps"), raw["verify_per_s"])
        out["fastapi-users: login / raw verify rate"] = ratio(ref.get("login", {}).get("rps"), raw["verify_per_s"])
        out["ours: login per server core / raw verify per core"] = ratio(
            ours.get("login", {}).get("rps_per_server_core"), raw["verify_per_s_per_core"])
        out["fastapi-users: login per server core / raw verify per core"] = ratio(
            ref.get("login", {}).get("rps_per_server_core"), raw["verify_per_s_per_core"])
    if "register" in ours or "register" in ref:
        out["ours: register / raw hash rate"] = ratio(ours.get("register", {}).get("rps"), raw["hash_per_s"])
        out["fastapi-users: register / raw hash rate"] = ratio(ref.get("register", {}).get("rps"), raw["hash_per_s"])
    return out


# --------------------------------------------------------------------------- main

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


def clean_redis(url: str, prefix: str) -> None:
    from redis import Redis

    client = Redis.from_url(url)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    for start in range(0, len(keys), 500):
        client.delete(*keys[start : start + 500])
    client.close()


def measure_raw_argon2(meter: CpuMeter) -> dict[str, float]:
    wait_for_quiet(meter)
    log(f"raw argon2id rate ({CORES} processes, nothing else running)")
    return dict(json.loads(subprocess.run([str(BENCH_PYTHON), str(BENCH / "argon2_rate.py"), str(CORES), "4"],
                                          check=True, capture_output=True, text=True).stdout))


def main() -> int:
    if not BENCH_PYTHON.exists():
        raise SystemExit("missing .venv-bench: run `make bench`")
    driver = driver_name()
    meter = CpuMeter()
    log(f"driver: {driver}")
    raw: dict[str, float] = {}
    admin, redis_base = admin_postgres_url(), redis_url()
    prefix = f"bench-{RUN_ID}:"
    logs = Path(tempfile.mkdtemp(prefix="bench-logs-"))
    apps: dict[str, App] = {}
    report: dict[str, Any] = {}
    try:
        with databases(admin) as urls:
            if "ours" in APPS:
                port = free_port()
                env = {**os.environ, "DATABASE_URL": urls["ours"], "REDIS_URL": redis_base,
                       "REDIS_KEY_PREFIX": prefix, "JWT_PRIVATE_KEY": generate_private_key_pem(),
                       "PORT": str(port), "HOST": "127.0.0.1", "WEB_CONCURRENCY": str(WORKERS),
                       "LOG_LEVEL": "WARNING", "LOGIN_MAX_FAILURES_PER_IP_PER_HOUR": "1000000",
                       "LOGIN_MAX_ATTEMPTS_PER_IP_PER_HOUR": "1000000", "REGISTRATION_MAX_PER_IP_PER_HOUR": "1000000",
                       "TRUSTED_PROXY_COUNT": "1",  # the event's attendees arrive through one NAT address
                       "ENVIRONMENT": "bench"}
                process = start_process([str(SERVICE_PYTHON), "-m", "auth_service", "serve"], env, logs / "ours.log")
                apps["ours"] = App("ours", "aidlc-auth", f"http://127.0.0.1:{port}", process, "login_json")
                meter.roots["ours"] = process.pid
            if "ref" in APPS:
                port = free_port()
                env = {**os.environ, "REFERENCE_DATABASE_URL": urls["ref"],
                       "REFERENCE_JWT_SECRET": secrets.token_urlsafe(32)}
                subprocess.run([str(BENCH_PYTHON), str(BENCH / "reference_app.py"), "create-tables"],
                               env=env, cwd=REPO, check=True)
                process = start_process(
                    [str(BENCH_PYTHON), "-m", "uvicorn", "--app-dir", str(BENCH), "reference_app:app",
                     "--host", "127.0.0.1", "--port", str(port), "--workers", str(WORKERS),
                     "--log-level", "warning", "--no-access-log"], env, logs / "ref.log")
                apps["ref"] = App("ref", "fastapi-users", f"http://127.0.0.1:{port}", process, "login_form")
                meter.roots["ref"] = process.pid
            for app in apps.values():
                wait_live(app.label, app.base_url, app.process, logs / f"{app.key}.log")
                log(f"{app.label} live at {app.base_url}; seeding {SEED_USERS} users")
                asyncio.run(seed(app, REFRESH_CONNECTIONS if app.key == "ours" and "refresh" in SCENARIOS else 0))

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
            report = {
                "started_at": datetime.now(UTC).isoformat(timespec="seconds"), "driver": driver,
                "machine": {"cores": CORES, "python": platform.python_version(), "platform": platform.platform(),
                            "wrk": shutil.which("wrk") is not None},
                "workers_per_app": WORKERS, "duration_s": DURATION, "argon2_raw": raw,
                "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
                "connections": {"me": ME_CONNECTIONS, "login": LOGIN_CONNECTIONS, "refresh": REFRESH_CONNECTIONS,
                                "register": REGISTER_CONNECTIONS},
                "scenario_titles": titles, "results": results,
            }
            report["ratios"] = ratios(results, raw)
            report["targets"] = evaluate(results, raw)
    finally:
        for app in apps.values():
            stop_process(app.process)
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
