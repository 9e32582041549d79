"""The run's report: ratios between the apps, verdicts against the targets, and the table on stdout."""

from __future__ import annotations

import json
from typing import Any

from bench.config import CORES, DURATION, WORKERS

TARGETS = {
    "me_throughput_ratio": 3.0,
    "login_throughput_ratio": 1.0,
    "login_fraction_of_raw_verify": 0.95,
    "login_p99_vs_fastapi_users": 1.0,
    "health_p99_ms_during_login": 20.0,
    "refresh_rps": 1000.0,
}
PLANNING_UTILISATION = 0.7  # plan tasks to run at most this busy: queueing delay grows sharply beyond it


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b else None


def _verdict(target: str, measured: float | None, met: bool) -> dict[str, Any]:
    return {"target": target, "measured": measured, "met": measured is not None and met}


def evaluate(results: dict[str, Any], raw: dict[str, float]) -> dict[str, Any]:
    ours, ref = results.get("ours", {}), results.get("ref", {})
    verdicts: dict[str, Any] = {}
    if "me" in ours:
        r = ratio(ours["me"]["rps"], ref.get("me", {}).get("rps"))
        verdicts["me_throughput_ratio"] = _verdict(
            f">= {TARGETS['me_throughput_ratio']}x fastapi-users", r, (r or 0) >= TARGETS["me_throughput_ratio"]
        )
    if "login" in ours:
        r = ratio(ours["login"]["rps"], ref.get("login", {}).get("rps"))
        verdicts["login_throughput_ratio"] = _verdict(
            f">= {TARGETS['login_throughput_ratio']}x fastapi-users", r, (r or 0) >= TARGETS["login_throughput_ratio"]
        )
        fraction = round(ours["login"]["rps"] / raw["verify_per_s"], 3)
        verdicts["login_fraction_of_raw_verify"] = _verdict(
            f">= {TARGETS['login_fraction_of_raw_verify']:.0%} of raw argon2id verifies/s",
            fraction,
            fraction >= TARGETS["login_fraction_of_raw_verify"],
        )
        p99 = ratio(ours["login"]["p99_ms"], ref.get("login", {}).get("p99_ms"))
        verdicts["login_p99_vs_fastapi_users"] = _verdict(
            "ours / fastapi-users login p99 <= 1.0", p99, (p99 or 99) <= TARGETS["login_p99_vs_fastapi_users"]
        )
        probe = ours["login"]["probe"]["p99_ms"]
        verdicts["health_p99_ms_during_login"] = _verdict(
            f"<= {TARGETS['health_p99_ms_during_login']} ms", probe, probe <= TARGETS["health_p99_ms_during_login"]
        )
    if "refresh" in ours:
        rps = ours["refresh"]["rps"]
        verdicts["refresh_rps"] = _verdict(
            f">= {TARGETS['refresh_rps']:.0f} req/s on {CORES} cores", rps, rps >= TARGETS["refresh_rps"]
        )
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
                f"{fmt(r['rps_per_server_core']):>13}{r['cpu_cores']['other']:>8.2f}"
            )
            if "probe" in r:
                p = r["probe"]
                lines.append(
                    f"{'  /health/live during that storm':<34}{labels[app]:<15}{p['rps']:>9.1f}"
                    f"{p['p50_ms']:>9.1f}{p['p95_ms']:>9.1f}{p['p99_ms']:>9.1f}{p['errors']:>8}"
                )
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
        lines.append(
            f"  {'met' if verdict['met'] else 'MISSED':<8}{key:<32} measured {fmt(verdict['measured'], '.3g')}"
            f"  (target {verdict['target']})"
        )
    return "\n".join(lines)


def storm_table(results: dict[str, Any]) -> list[str]:
    labels = {"ours": "aidlc-auth", "ref": "fastapi-users"}
    rows = [
        (labels[app], factor, r)
        for app in ("ours", "ref")
        for factor, r in results.get(app, {}).get("storm", {}).items()
    ]
    if not rows:
        return []
    lines = [
        "",
        "open-loop login storm (offered = multiple of the raw argon2id verify rate in this run):",
        f"{'app':<15}{'offered':>9}{'/s':>8}{'accepted/s':>12}{'p50 ms':>9}{'p99 ms':>10}{'shed rate':>11}"
        f"{'other failures':>16}  load avg",
    ]
    for label, factor, r in rows:
        other = r["requests"] - r["ok"] - r["outcomes"].get("shed_503_overloaded", 0)
        lines.append(
            f"{label:<15}{factor:>9}{r['offered_per_s']:>8.1f}{r['accepted_per_s']:>12.1f}"
            f"{fmt(r['p50_ms']):>9}{fmt(r['p99_ms']):>10}{r['shed_rate']:>11.1%}{other:>16}  "
            f"{r['load_average_before'][0]:.2f}"
        )
    return lines


def per_attendee_ms(event: dict[str, Any]) -> float:
    return float(event["server_cpu_seconds"]) * 1000 / max(1, int(event["attendees_fully_served"]))


def attendees_per_task_minute(event: dict[str, Any]) -> float:
    """A 0.5 vCPU task supplies 0.5 CPU-seconds per second."""
    return 0.5 * 60 * 1000 / per_attendee_ms(event) if per_attendee_ms(event) else 0.0


def event_table(event: dict[str, Any] | None) -> list[str]:
    if not event:
        return []
    lines = [
        "",
        f"event: {event['attendees']} attendees arriving over {event['arrival_seconds']:.0f} s from one "
        f"client IP (X-Forwarded-For, TRUSTED_PROXY_COUNT=1): completed in {event['completion_seconds']} s, "
        f"{event['attendees_fully_served']} fully served; load avg before {event['load_average_before'][0]:.2f}",
        f"service CPU: {event['server_cpu_seconds']} s = {per_attendee_ms(event):.1f} ms per attendee (login + "
        f"profile + refresh); a 0.5 vCPU task at 100 % carries {attendees_per_task_minute(event):.0f} attendees "
        f"a minute at that cost: {1000 / attendees_per_task_minute(event):.2f} tasks per 1,000 attendees/minute "
        f"at 100 % CPU, {1000 / attendees_per_task_minute(event) / PLANNING_UTILISATION:.2f} at "
        f"{PLANNING_UTILISATION:.0%}",
        f"{'step':<10}{'requests':>9}{'ok':>7}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>10}{'shed rate':>11}  outcomes",
    ]
    for name, step in event["steps"].items():
        lines.append(
            f"{name:<10}{step['requests']:>9}{step['ok']:>7}{fmt(step['p50_ms']):>9}{fmt(step['p95_ms']):>9}"
            f"{fmt(step['p99_ms']):>10}{step['shed_rate']:>11.1%}  {json.dumps(step['outcomes'])}"
        )
    return lines


def ratios(results: dict[str, Any], raw: dict[str, float]) -> dict[str, float | None]:
    ours, ref = results.get("ours", {}), results.get("ref", {})
    out: dict[str, float | None] = {}
    for key in ("me", "login", "register"):
        if key in ours or key in ref:
            out[f"{key} throughput"] = ratio(ours.get(key, {}).get("rps"), ref.get(key, {}).get("rps"))
            out[f"{key} p99 (fastapi-users / ours, >1 = ours faster)"] = ratio(
                ref.get(key, {}).get("p99_ms"), ours.get(key, {}).get("p99_ms")
            )
    if "login" in ours or "login" in ref:
        out["health p99 during login (fastapi-users / ours)"] = ratio(
            ref.get("login", {}).get("probe", {}).get("p99_ms"), ours.get("login", {}).get("probe", {}).get("p99_ms")
        )
        out["ours: login / raw verify rate"] = ratio(ours.get("login", {}).get("rps"), raw["verify_per_s"])
        out["fastapi-users: login / raw verify rate"] = ratio(ref.get("login", {}).get("rps"), raw["verify_per_s"])
        out["ours: login per server core / raw verify per core"] = ratio(
            ours.get("login", {}).get("rps_per_server_core"), raw["verify_per_s_per_core"]
        )
        out["fastapi-users: login per server core / raw verify per core"] = ratio(
            ref.get("login", {}).get("rps_per_server_core"), raw["verify_per_s_per_core"]
        )
    if "register" in ours or "register" in ref:
        out["ours: register / raw hash rate"] = ratio(ours.get("register", {}).get("rps"), raw["hash_per_s"])
        out["fastapi-users: register / raw hash rate"] = ratio(ref.get("register", {}).get("rps"), raw["hash_per_s"])
    return out
