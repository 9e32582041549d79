"""Open-loop arrivals (aiohttp): requests start on a schedule whatever the server's state, as people do.

`python bench/openloop.py SPEC.json` prints one JSON result. Two modes (SPEC["mode"]):

  event  SPEC["attendees"] people arrive evenly over SPEC["seconds"]; each logs in, reads its profile
         (GET /users/me) and refreshes once, one step after the other. Every request carries the same
         X-Forwarded-For (the venue's NAT). Reports completion time and per step: p50/p99, shed (503
         `overloaded`), throttled (429) and other failures.
  storm  logins arrive at SPEC["rate"] per second for SPEC["seconds"] (ours: JSON, fastapi-users: form).
         Reports accepted logins/s, p50/p99 of accepted logins, and the shed rate.

A closed loop (loadgen.py, wrk) slows down with the server; an open loop shows what queueing does to latency
and whether the server sheds instead.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from typing import Any

import aiohttp

TIMEOUT_SECONDS = 60.0


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))] * 1000, 1)


class Step:
    """Outcomes of one kind of request."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.outcomes: Counter[str] = Counter()

    def record(self, started: float, status: int, code: str | None) -> None:
        if status < 400:
            self.latencies.append(time.perf_counter() - started)
            self.outcomes["ok"] += 1
        elif status == 503 and code == "overloaded":
            self.outcomes["shed_503_overloaded"] += 1
        elif status == 429:
            self.outcomes[f"throttled_429_{code}"] += 1
        else:
            self.outcomes[f"failed_{status}_{code}"] += 1

    def summary(self, seconds: float | None = None) -> dict[str, Any]:
        total = sum(self.outcomes.values())
        result: dict[str, Any] = {
            "requests": total,
            "ok": self.outcomes["ok"],
            "outcomes": dict(self.outcomes),
            "shed_rate": round(self.outcomes["shed_503_overloaded"] / total, 4) if total else 0.0,
            "p50_ms": _percentile(self.latencies, 50),
            "p95_ms": _percentile(self.latencies, 95),
            "p99_ms": _percentile(self.latencies, 99),
            "max_ms": round(max(self.latencies) * 1000, 1) if self.latencies else None,
        }
        if seconds:
            result["accepted_per_s"] = round(self.outcomes["ok"] / seconds, 1)
        return result


async def _send(
    session: aiohttp.ClientSession, step: Step, method: str, url: str, **kwargs: Any
) -> dict[str, Any] | None:
    started = time.perf_counter()
    try:
        async with session.request(method, url, **kwargs) as response:
            body = await response.read()
            payload: dict[str, Any] = {}
            if body[:1] == b"{":
                payload = json.loads(body)
            step.record(started, response.status, payload.get("code"))
            return payload if response.status < 400 else None
    except (aiohttp.ClientError, TimeoutError) as exc:
        step.outcomes[f"transport_{type(exc).__name__}"] += 1
        return None


async def _login(
    session: aiohttp.ClientSession, spec: dict[str, Any], step: Step, email: str, headers: dict[str, str]
) -> dict[str, Any] | None:
    base, password = spec["base_url"], spec["password"]
    if spec.get("login_form"):
        return await _send(
            session,
            step,
            "POST",
            base + "/auth/jwt/login",
            headers=headers,
            data={"username": email, "password": password},
        )
    return await _send(
        session, step, "POST", base + "/auth/login", headers=headers, json={"email": email, "password": password}
    )


async def event(spec: dict[str, Any]) -> dict[str, Any]:
    emails: list[str] = spec["emails"]
    interval = spec["seconds"] / len(emails)
    headers = {"X-Forwarded-For": spec["client_ip"]}
    steps = {"login": Step(), "me": Step(), "refresh": Step()}
    finished: list[float] = []

    async def attendee(session: aiohttp.ClientSession, index: int, start: float) -> None:
        await asyncio.sleep(max(0.0, start + index * interval - time.perf_counter()))
        tokens = await _login(session, spec, steps["login"], emails[index], headers)
        if tokens is not None:
            auth = {**headers, "Authorization": f"Bearer {tokens['access_token']}"}
            await _send(session, steps["me"], "GET", spec["base_url"] + "/users/me", headers=auth)
            await _send(
                session,
                steps["refresh"],
                "POST",
                spec["base_url"] + "/auth/refresh",
                headers=headers,
                json={"refresh_token": tokens["refresh_token"]},
            )
        finished.append(time.perf_counter())

    async with _client() as session:
        start = time.perf_counter()
        await asyncio.gather(*(attendee(session, i, start) for i in range(len(emails))))
    return {
        "mode": "event",
        "attendees": len(emails),
        "arrival_seconds": spec["seconds"],
        "completion_seconds": round(max(finished) - start, 2) if finished else None,
        "attendees_fully_served": steps["refresh"].outcomes["ok"],
        "attendees_finished": len(finished),
        "steps": {name: step.summary() for name, step in steps.items()},
    }


async def storm(spec: dict[str, Any]) -> dict[str, Any]:
    users: list[str] = spec["emails"]
    count = int(spec["rate"] * spec["seconds"])
    step = Step()

    async def one(session: aiohttp.ClientSession, index: int, start: float) -> None:
        await asyncio.sleep(max(0.0, start + index / spec["rate"] - time.perf_counter()))
        await _login(session, spec, step, users[index % len(users)], {})

    async with _client() as session:
        start = time.perf_counter()
        await asyncio.gather(*(one(session, i, start) for i in range(count)))
        elapsed = time.perf_counter() - start
    # Accepted per second over the time until the last answer: a queue that drains after the arrivals stop
    # does not count as capacity.
    return {
        "mode": "storm",
        "offered_per_s": spec["rate"],
        "seconds": spec["seconds"],
        "elapsed_seconds": round(elapsed, 2),
        **step.summary(elapsed),
    }


def _client() -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=512, force_close=False)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=TIMEOUT_SECONDS))


def main() -> None:
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    result = asyncio.run(event(spec) if spec["mode"] == "event" else storm(spec))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
