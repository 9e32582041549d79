"""Closed-loop async HTTP load generator (aiohttp), the fallback when wrk is not installed.

`python bench/loadgen.py SPEC.json` prints one JSON result. Each of `connections` virtual users holds one
keep-alive connection and sends its next request when the previous answer arrived, until `duration`
seconds or `max_requests` requests have passed (both bounded). Requests started during the first `warmup`
seconds are not counted. With `pace` > 0 each virtual user waits that many seconds between requests
(a light latency probe instead of a load).

Scenarios (SPEC["scenario"]):
  get         GET SPEC["path"], optional Bearer tokens round-robin from SPEC["tokens"]
  login_json  POST /auth/login {email, password} round-robin over SPEC["users"]
  login_form  POST /auth/jwt/login form username/password (fastapi-users)
  register    POST /auth/register with a unique email per request
  refresh     POST /auth/refresh, each virtual user chaining its own token from SPEC["refresh_tokens"]
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import aiohttp


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]


def summarise(latencies: list[float], errors: dict[str, int], elapsed: float) -> dict[str, Any]:
    latencies.sort()
    ok = len(latencies)
    return {
        "requests": ok + sum(errors.values()),
        "ok": ok,
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "seconds": round(elapsed, 3),
        "rps": round(ok / elapsed, 1) if elapsed > 0 else 0.0,
        "p50_ms": round(_percentile(latencies, 50) * 1000, 2),
        "p95_ms": round(_percentile(latencies, 95) * 1000, 2),
        "p99_ms": round(_percentile(latencies, 99) * 1000, 2),
        "max_ms": round(latencies[-1] * 1000, 2) if latencies else float("nan"),
    }


class VirtualUser:
    def __init__(self, index: int, spec: dict[str, Any]) -> None:
        self.index = index
        self.spec = spec
        self.counter = 0
        scenario = spec["scenario"]
        if scenario == "refresh":
            self.refresh_token: str | None = spec["refresh_tokens"][index]
        if scenario in ("login_json", "login_form"):
            self.users = spec["users"]

    def request(self) -> tuple[str, str, dict[str, Any]]:
        spec, scenario = self.spec, self.spec["scenario"]
        self.counter += 1
        if scenario == "get":
            tokens = spec.get("tokens") or []
            kwargs: dict[str, Any] = {}
            if tokens:
                kwargs["headers"] = {"Authorization": f"Bearer {tokens[(self.index + self.counter) % len(tokens)]}"}
            return "GET", spec["path"], kwargs
        if scenario in ("login_json", "login_form"):
            email, password = self.users[(self.index * 7 + self.counter) % len(self.users)]
            if scenario == "login_json":
                return "POST", "/auth/login", {"json": {"email": email, "password": password}}
            return "POST", "/auth/jwt/login", {"data": {"username": email, "password": password}}
        if scenario == "register":
            email = f"{spec['email_prefix']}-{self.index}-{self.counter}@example.com"
            body = {"email": email, "password": spec["password"], "display_name": "Bench User"}
            return "POST", "/auth/register", {"json": body}
        if scenario == "refresh":
            return "POST", "/auth/refresh", {"json": {"refresh_token": self.refresh_token}}
        raise SystemExit(f"unknown scenario {scenario!r}")

    async def handle(self, status: int, body: bytes) -> bool:
        """Returns False when this virtual user cannot go on (a broken refresh chain)."""
        if self.spec["scenario"] == "refresh":
            if status != 200:
                return False
            self.refresh_token = json.loads(body)["refresh_token"]
        return True


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    connections = int(spec["connections"])
    warmup = float(spec.get("warmup", 0))
    duration = float(spec["duration"])
    max_requests = int(spec.get("max_requests", 1_000_000))
    pace = float(spec.get("pace", 0))
    expected = set(spec.get("expect", [200, 201]))
    connector = aiohttp.TCPConnector(limit=connections, force_close=False, ttl_dns_cache=None)
    timeout = aiohttp.ClientTimeout(total=float(spec.get("timeout", 10)))
    latencies: list[float] = []
    errors: dict[str, int] = {}
    sent = 0
    cpu_started = time.process_time()
    started = time.perf_counter()
    measure_from = started + warmup
    deadline = measure_from + duration

    async def virtual_user(session: aiohttp.ClientSession, index: int) -> None:
        nonlocal sent
        user = VirtualUser(index, spec)
        while True:
            begun = time.perf_counter()
            if begun >= deadline or sent >= max_requests:
                return
            counted = begun >= measure_from
            if counted:
                sent += 1
            method, path, kwargs = user.request()
            try:
                async with session.request(method, spec["base_url"] + path, **kwargs) as response:
                    body = await response.read()
                    status = response.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                if counted:
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                await asyncio.sleep(0.05)
                continue
            finished = time.perf_counter()
            if counted:
                if status in expected:
                    latencies.append(finished - begun)
                else:
                    errors[str(status)] = errors.get(str(status), 0) + 1
            if not await user.handle(status, body):
                return
            if pace:
                await asyncio.sleep(pace)

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(virtual_user(session, i) for i in range(connections)))
    elapsed = min(time.perf_counter(), deadline) - measure_from
    result = summarise(latencies, errors, elapsed)
    result["generator_cpu_seconds"] = round(time.process_time() - cpu_started, 3)
    result["driver"] = "python-aiohttp"
    return result


def main() -> None:
    with open(sys.argv[1]) as handle:
        spec = json.load(handle)
    try:
        import uvloop
    except ImportError:
        print(json.dumps(asyncio.run(run(spec))))
    else:
        print(json.dumps(uvloop.run(run(spec))))


if __name__ == "__main__":
    main()
