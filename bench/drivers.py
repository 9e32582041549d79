"""Closed-loop load: wrk (bench/scenario.lua) or bench/loadgen.py in a child process against one app, and the
CPU the app, the generator and everything else used while it ran."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.apps import App
from bench.config import BENCH, BENCH_PYTHON, PASSWORD, RUN_ID, WRK_THREADS
from bench.cpu_meter import CpuMeter


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
            env = {
                **os.environ,
                "BENCH_SCENARIO": load.scenario,
                "BENCH_PATH": load.path,
                "BENCH_DATA": str(data) if load.items else "",
                "BENCH_THREADS": str(threads),
                "BENCH_PREFIX": f"load-{RUN_ID}-{secrets.token_hex(3)}",
                "BENCH_PASSWORD": PASSWORD,
            }
            args = [
                "wrk",
                "-t",
                str(threads),
                "-c",
                str(load.connections),
                "-d",
                f"{int(load.duration)}s",
                "--timeout",
                "10s",
                "-s",
                str(BENCH / "scenario.lua"),
                app.base_url,
            ]
        else:
            spec: dict[str, Any] = {
                "base_url": app.base_url,
                "scenario": load.scenario,
                "connections": load.connections,
                "duration": load.duration,
                "warmup": load.warmup,
                "path": load.path,
                "pace": load.pace,
                "max_requests": 2_000_000,
                "email_prefix": f"load-{RUN_ID}-{secrets.token_hex(3)}",
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
            self.process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)

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
            raw = json.loads(line[len("BENCH_JSON ") :])
            seconds = raw["duration_us"] / 1e6
            socket_errors = raw["connect"] + raw["read"] + raw["write"] + raw["timeout"]
            ok = raw["requests"] - raw["status"]
            result = {
                "requests": raw["requests"] + raw["timeout"],
                "ok": ok,
                "errors": raw["status"] + socket_errors,
                "error_kinds": {k: raw[k] for k in ("status", "connect", "read", "write", "timeout") if raw[k]},
                "seconds": round(seconds, 3),
                "rps": round(ok / seconds, 1),
                "p50_ms": raw["p50_us"] / 1000,
                "p95_ms": raw["p95_us"] / 1000,
                "p99_ms": raw["p99_us"] / 1000,
                "max_ms": raw["max_us"] / 1000,
                "driver": "wrk",
            }
            failures = [
                x[len("BENCH_FIRST_FAILURE ") :] for x in text.splitlines() if x.startswith("BENCH_FIRST_FAILURE ")
            ]
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
    cpu["other"] = round(
        max(0.0, cpu["machine_busy"] - sum(v for k, v in cpu.items() if k not in ("machine_busy", "other"))), 2
    )
    result["cpu_cores"] = cpu
    server = cpu.get(app.key, 0.0)
    result["server_cores"] = server
    result["rps_per_server_core"] = round(result["rps"] / server, 1) if server > 0 else None
    return result
