"""The OpenAPI document against the real service process, with schemathesis' own CLI: every check, every phase.

`st run` reads the live `/openapi.json` and runs the examples, coverage, fuzzing and stateful phases (the stateful
one follows the document's links: register -> login -> me / refresh / sessions / logout) with all of its checks:
no 5xx, documented status codes, content types, headers and bodies, schema-valid requests accepted and invalid ones
rejected, required headers, undeclared methods answered 405 with a correct `Allow`, authentication not ignored...
Requests are authenticated with a real bearer token (schemathesis logs in again when a case ended the session).
Configuration and the reasons for each setting: schemathesis.toml; test data it cannot invent:
schemathesis_hooks.py. Every warning is fatal. The HAR of the run feeds the secrets ledger, so
test_log_secrets.py also proves that none of the fuzzing traffic's passwords and tokens reached a log line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support.openapi import in_process_document
from tests.support.secrets_ledger import SecretsLedger, register_and_login
from tests.support.servers import REPO_ROOT, ServiceProcess

FUZZ_PASSWORD = "Fuzzing-Walrus-Quartz-77"
CONFIG = Path(__file__).with_name("schemathesis.toml")
PHASES = ("examples", "coverage", "fuzzing", "stateful")
RUN_TIMEOUT_SECONDS = 900
MIN_DISTINCT_CHARACTERS = 8


@dataclass
class FuzzRun:
    report: dict[str, Any]
    statuses: dict[str, Counter[int]]
    output: str


def _statuses_and_secrets(har: dict[str, Any], ledger: SecretsLedger) -> dict[str, Counter[int]]:
    """Status codes per operation seen in the HAR; every token and password in it goes into the ledger."""
    statuses: dict[str, Counter[int]] = defaultdict(Counter)
    for entry in har["log"]["entries"]:
        request, response = entry["request"], entry["response"]
        statuses[f"{request['method']} {urlsplit(request['url']).path}"][response["status"]] += 1
        for text in (request.get("postData", {}).get("text"), response.get("content", {}).get("text")):
            _ledger_secrets(text, ledger)
        for header in request["headers"]:
            if header["name"].lower() == "authorization":
                _ledger_fuzzed("authorization header", header["value"].removeprefix("Bearer "), ledger)
    return statuses


def _ledger_fuzzed(kind: str, value: str, ledger: SecretsLedger) -> None:
    """Generated values with few distinct characters ("00000000") could turn up in a log line by coincidence."""
    if len(set(value)) >= MIN_DISTINCT_CHARACTERS:
        ledger.add(kind, value)


def _ledger_secrets(text: str | None, ledger: SecretsLedger) -> None:
    try:
        body = json.loads(text or "")
    except ValueError:
        return
    if isinstance(body, dict):
        ledger.add_tokens(body)
        for field in ("password", "current_password", "new_password"):
            if isinstance(body.get(field), str):
                _ledger_fuzzed("fuzzed password", body[field], ledger)


@pytest.fixture(scope="module")
def fuzz_run(
    live_service: ServiceProcess, secrets_ledger: SecretsLedger, tmp_path_factory: pytest.TempPathFactory
) -> FuzzRun:
    email, _ = register_and_login(live_service.base_url, secrets_ledger, FUZZ_PASSWORD)
    reports = tmp_path_factory.mktemp("schemathesis")
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "AUTH_FUZZ_BASE_URL": live_service.base_url,
        "AUTH_FUZZ_EMAIL": email,
        "AUTH_FUZZ_PASSWORD": FUZZ_PASSWORD,
        "NO_COLOR": "1",
    }
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "--config-file",
            str(CONFIG),
            "run",
            f"{live_service.base_url}/openapi.json",
            "--checks",
            "all",
            "--phases",
            ",".join(PHASES),
            "--report",
            "json,har",
            "--report-json-path",
            str(reports / "report.json"),
            "--report-har-path",
            str(reports / "run.har"),
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
        check=False,
    )
    output = completed.stdout + completed.stderr
    report_file, har_file = reports / "report.json", reports / "run.har"
    assert report_file.exists() and har_file.exists(), output
    statuses = _statuses_and_secrets(json.loads(har_file.read_text()), secrets_ledger)
    return FuzzRun(json.loads(report_file.read_text()), statuses, output)


def test_the_served_document_is_the_one_built_in_process(live_service: ServiceProcess) -> None:
    served = httpx.get(f"{live_service.base_url}/openapi.json", timeout=10)
    assert served.status_code == 200
    assert served.json() == json.loads(json.dumps(in_process_document()))


def test_every_check_and_phase_passes_without_warnings(fuzz_run: FuzzRun) -> None:
    report = fuzz_run.report
    phases = ", ".join(f"{name} {state['status']}" for name, state in report["phases"].items())
    summary = (
        f"schemathesis {report['schemathesis_version']}: {report['operations']['tested']} operations, "
        f"phases {phases}, "
        f"{report['test_cases']['generated']} cases generated, {len(report['failures'])} failures, "
        f"{sum(len(found) for found in report['warnings'].values())} warnings, "
        f"{report['running_time']:.0f} s"
    )
    print(f"\n{summary}")
    assert report["failures"] == [] and report["errors"] == [], fuzz_run.output
    assert {name: found for name, found in report["warnings"].items() if found} == {}, fuzz_run.output
    assert report["exit_code"] == 0 and report["complete"], fuzz_run.output
    assert {name: state["status"] for name, state in report["phases"].items()} == dict.fromkeys(PHASES, "success")
    assert report["operations"]["tested"] == report["operations"]["total"] == 14
    assert report["test_cases"]["generated"] > 500 and report["test_cases"]["with_failures"] == 0


def test_the_fuzzer_reached_the_success_and_the_failure_paths(fuzz_run: FuzzRun) -> None:
    """Passing checks mean little if every case was refused: each outcome that matters was produced."""
    reached = fuzz_run.statuses
    expected = {
        "POST /auth/register": {201, 422},
        "POST /auth/login": {200, 401, 422},
        "POST /auth/refresh": {200, 401, 422},
        "GET /users/me": {200},
        "PATCH /users/me": {200, 422},
        "POST /users/me/password": {204, 401, 422},
        "DELETE /users/me": {204, 422},
        "GET /auth/sessions": {200},
        "POST /auth/logout": {204},
        "POST /auth/logout-all": {204},
        "GET /.well-known/jwks.json": {200},
        "GET /health/live": {200},
        "GET /health/ready": {200},
        "OPTIONS /users/me": {405},
    }
    missing = {
        label: sorted(statuses - set(reached[label]))
        for label, statuses in expected.items()
        if not statuses <= set(reached[label])
    }
    assert not missing, f"never produced: {missing}; produced: {dict(reached)}"
    revoked = sum(
        count
        for label, statuses in reached.items()
        if label.startswith("DELETE /auth/sessions/")
        for status, count in statuses.items()
        if status == 204
    )
    assert revoked > 0
    assert not any(status >= 500 for statuses in reached.values() for status in statuses)
