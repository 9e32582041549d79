"""scripts/smoke_test.py: passes against the real service (`make run`), fails loudly on the first wrong answer."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Coroutine, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from devenv.database_admin import create_database, drop_database
from devenv.processes import free_port, stop_child
from devenv.services import admin_postgres_url, with_database
from scripts import smoke_test
from scripts.offline_stack import ROOT

TOKENS = {"access_token": "a1", "refresh_token": "r1", "token_type": "bearer", "expires_in": 900}


class FakeService(BaseHTTPRequestHandler):
    """A service that gets everything right except refresh-token reuse (it accepts the old token again)."""

    def do_GET(self) -> None:
        self._reply(200, {"email": type(self).email})

    def do_DELETE(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        type(self).deletions.append((self.path, self.headers.get("Authorization"), body.get("password")))
        self.send_response(204)
        self.end_headers()

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        if self.path == "/auth/register":
            type(self).email = body["email"]
            self._reply(201, {"email": body["email"]})
        elif self.path == "/auth/refresh":
            self._reply(200, {**TOKENS, "refresh_token": "r2"})
        else:
            self._reply(200, TOKENS)

    email = ""
    deletions: list[tuple[str, str | None, str | None]] = []

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def fake_service() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeService)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_stops_at_the_first_wrong_answer(fake_service: str, capsys: pytest.CaptureFixture[str]) -> None:
    FakeService.deletions.clear()
    assert smoke_test.main([fake_service]) == 1
    out, err = capsys.readouterr()
    assert "ok  refresh (200)" in out
    assert "SMOKE TEST FAILED: reuse of an older refresh token is rejected: expected HTTP 401, got HTTP 200" in err
    assert "logout" not in out
    # a failed run still removes the account it registered (a fresh login, then DELETE /users/me)
    ((path, authorization, password),) = FakeService.deletions
    assert (path, authorization) == ("/users/me", "Bearer a1") and password
    assert "cleanup: deleted the smoke-test account" in out


def test_unreachable_service_is_a_clear_failure(capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()  # nothing listens there
    assert smoke_test.main([f"http://127.0.0.1:{port}", "--timeout", "2"]) == 1
    assert "no answer from" in capsys.readouterr().err


@pytest.mark.parametrize("url", ["ftp://host", "127.0.0.1:8000", "file:///etc/passwd"])
def test_only_http_urls(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert smoke_test.main([url]) == 1
    assert "BASE_URL must be" in capsys.readouterr().err


def run_coroutine(coroutine: Coroutine[Any, Any, None]) -> None:
    """On a private loop: asyncio.run() would leave the main thread without a current loop, which the Pulumi
    mocks of later tests rely on."""
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(coroutine)
    finally:
        loop.close()


@pytest.fixture
def local_service() -> Iterator[str]:
    """The real service as `make run` starts it (`python -m devenv run`), on a free port and a database of its
    own (`make run`'s fixed `aidlc_auth` database may carry another checkout's migrations on a shared machine)."""
    port = free_port()
    admin = admin_postgres_url()
    database = f"smoke_{uuid.uuid4().hex[:10]}"
    run_coroutine(create_database(admin, database))
    env = {**os.environ, "PORT": str(port), "HOST": "127.0.0.1", "DATABASE_URL": with_database(admin, database)}
    process = subprocess.Popen(
        [sys.executable, "-m", "devenv", "run"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_child(process)
        run_coroutine(drop_database(admin, database))


def test_passes_against_the_real_service(local_service: str) -> None:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "smoke_test.py"), local_service, "--wait", "120"],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "smoke test passed" in result.stdout
    assert "ok  delete the account (204)" in result.stdout
    assert "ok  login after deletion is rejected (401)" in result.stdout
    assert time.monotonic() - started < 240
