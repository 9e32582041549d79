"""The wire between the stack and the service, proven from both ends.

Static half: the environment names, secret names, port, container health check and target-group health
path of the *mocked task definition* must be exactly what docs/container-contract.md lists and what
`auth_service` reads and serves.

Live half: the service runs as a real process with exactly the task definition's variables, pointed at a
throwaway PostgreSQL that accepts TLS connections only (RDS forces TLS) and a throwaway Redis that speaks
only TLS and requires an AUTH token (ElastiCache with transit encryption). Then the container health check
command runs exactly as ECS would run it, and the target group's health path is fetched as the ALB would.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from starlette.routing import Match

from scripts.offline_stack import ROOT, StackGraph

CONTRACT_DOC = ROOT / "docs" / "container-contract.md"
PG_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
STARTUP_SECONDS = 90


# --- what the stack configures --------------------------------------------------------------------


def environment_of(container: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item["value"] for item in container["environment"]}


def secret_names_of(container: dict[str, Any]) -> list[str]:
    return [item["name"] for item in container["secrets"]]


def target_group_health_path(graph: StackGraph) -> str:
    return graph.one("aws:lb/targetGroup:TargetGroup").plain["healthCheck"]["path"]


def documented_names(section: str) -> list[str]:
    """Names in the first column of a table under `## <section>` in docs/container-contract.md."""
    text = CONTRACT_DOC.read_text()
    body = text.split(f"## {section}", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([A-Z_]+)` \|", body, flags=re.MULTILINE)


def signing_key_pem() -> str:
    key = ed25519.Ed25519PrivateKey.generate()
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


# --- static half ----------------------------------------------------------------------------------


def test_task_definition_names_are_exactly_the_documented_contract(container: dict[str, Any]) -> None:
    assert sorted(environment_of(container)) == sorted(documented_names("Environment"))
    assert sorted(secret_names_of(container)) == sorted(documented_names("Secrets"))


def test_service_settings_accept_every_name_the_task_definition_sets(container: dict[str, Any]) -> None:
    from auth_service.settings import Settings

    fields = {name.upper() for name in Settings.model_fields}
    names = [*environment_of(container), *secret_names_of(container)]
    # Settings ignores unknown variables, so a typo would pass silently: check the names themselves.
    assert not [name for name in names if name not in fields]

    values = {**environment_of(container), "DB_PASSWORD": "x", "REDIS_AUTH_TOKEN": "y", "JWT_PRIVATE_KEY": "z"}
    settings = Settings(**{name.lower(): value for name, value in values.items()})
    assert settings.db_sslmode == "require"
    assert settings.redis_url.startswith("rediss://")
    assert settings.trusted_proxy_count == 1


def test_port_and_health_checks_match_what_the_service_serves(staging: StackGraph, container: dict[str, Any]) -> None:
    from auth_service.bootstrap import create_app
    from auth_service.settings import Settings

    (mapping,) = container["portMappings"]
    assert Settings.model_fields["port"].default == mapping["containerPort"] == 8000
    assert Settings.model_fields["host"].default == "0.0.0.0"  # noqa: S104 - must listen beyond loopback
    assert container["healthCheck"]["command"] == ["CMD", "python", "-m", "auth_service", "healthcheck"]

    settings = Settings(
        **{name.lower(): value for name, value in environment_of(container).items()},
        jwt_private_key=signing_key_pem(),
    )
    app = create_app(settings)  # connects lazily: no servers needed to match routes
    assert serves_get(app, target_group_health_path(staging))
    assert serves_get(app, "/health/live")  # what `python -m auth_service healthcheck` fetches
    assert not serves_get(app, "/health/missing")


def serves_get(app: Any, path: str) -> bool:
    """Whether one of app.routes fully matches `GET path` (included routers hide their paths in FastAPI 0.16x)."""
    scope = {"type": "http", "method": "GET", "path": path, "root_path": "", "path_params": {}, "headers": []}
    return any(route.matches({**scope, "app": app})[0] == Match.FULL for route in app.routes)


# --- live half: throwaway TLS-only PostgreSQL and Redis -------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def require_binaries() -> dict[str, str]:
    pg_bin = next((d for d in PG_BIN_DIRS if (d / "initdb").exists() and (d / "pg_ctl").exists()), None)
    found = {
        "initdb": str(pg_bin / "initdb") if pg_bin else None,
        "pg_ctl": str(pg_bin / "pg_ctl") if pg_bin else None,
        "psql": shutil.which("psql") or (str(pg_bin / "psql") if pg_bin else None),
        "redis-server": shutil.which("redis-server"),
        "openssl": shutil.which("openssl"),
    }
    missing = [name for name, path in found.items() if path is None]
    if missing:
        reason = f"contract test needs server binaries that are missing here: {', '.join(missing)}"
        print(reason)
        pytest.skip(reason)
    return {name: str(path) for name, path in found.items()}


def self_signed_certificate(directory: Path, openssl: str) -> tuple[Path, Path]:
    cert, key = directory / "server.crt", directory / "server.key"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def as_postgres_user(command: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: run them as the `postgres` OS user when we are root."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@dataclass
class Postgres:
    port: int
    data_dir: Path
    pid: int


def start_tls_only_postgres(workdir: Path, bins: dict[str, str], cert: Path, key: Path) -> Postgres:
    pg_dir = workdir / "pg"
    pg_dir.mkdir()
    for source in (cert, key):
        shutil.copy(source, pg_dir / source.name)
    (pg_dir / "server.key").chmod(0o600)
    if os.geteuid() == 0:
        shutil.chown(pg_dir, "postgres")
        for item in pg_dir.iterdir():
            shutil.chown(item, "postgres")
    data_dir, port = pg_dir / "data", free_port()
    subprocess.run(
        as_postgres_user([bins["initdb"], "-D", str(data_dir), "-U", "postgres", "--auth-local=trust"]),
        check=True, capture_output=True,
    )  # fmt: skip
    (data_dir / "pg_hba.conf").write_text(
        "local all postgres trust\nhostssl all all 127.0.0.1/32 scram-sha-256\nhostnossl all all 0.0.0.0/0 reject\n"
    )
    settings = (
        f"port = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{pg_dir}'\n"
        f"ssl = on\nssl_cert_file = '{pg_dir / 'server.crt'}'\nssl_key_file = '{pg_dir / 'server.key'}'\n"
    )
    with (data_dir / "postgresql.conf").open("a") as conf:
        conf.write(settings)
    subprocess.run(
        as_postgres_user([bins["pg_ctl"], "-D", str(data_dir), "-l", str(pg_dir / "log"), "-w", "start"]),
        check=True, capture_output=True,
    )  # fmt: skip
    pid = int((data_dir / "postmaster.pid").read_text().splitlines()[0])
    return Postgres(port=port, data_dir=data_dir, pid=pid)


def create_role_and_database(postgres: Postgres, psql: str, user: str, database: str, password: str) -> None:
    socket_dir = str(postgres.data_dir.parent)
    for statement in (
        f"CREATE ROLE {user} LOGIN PASSWORD '{password}'",
        f"CREATE DATABASE {database} OWNER {user}",
    ):
        subprocess.run(
            [psql, "-h", socket_dir, "-p", str(postgres.port), "-U", "postgres", "-v", "ON_ERROR_STOP=1",
             "-c", statement],
            check=True, capture_output=True,
        )  # fmt: skip


def stop_child(process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """Stop a server we started, by its own PID (SIGTERM, then SIGKILL), and reap it."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def stop_by_pid(pid: int, sig: signal.Signals, timeout: float = 20) -> None:
    """Stop a daemon that is not our child (PostgreSQL's postmaster) by its PID."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


def start_tls_only_redis(
    workdir: Path, redis_server: str, cert: Path, key: Path, token: str
) -> tuple[int, subprocess.Popen[bytes]]:
    port = free_port()
    process = subprocess.Popen(
        [redis_server, "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
         "--tls-cert-file", str(cert), "--tls-key-file", str(key), "--tls-ca-cert-file", str(cert),
         "--tls-auth-clients", "no", "--requirepass", token,
         "--save", "", "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    wait_for_port(port, process)
    return port, process


def wait_for_port(port: int, process: Any, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "server exited during startup"
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on {port}")


@dataclass
class LiveService:
    port: int
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    redis: subprocess.Popen[bytes]
    log: Path


def http_status(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def wait_until_live(service: LiveService) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            pytest.fail(f"service exited with {service.process.returncode}:\n{service.log.read_text()[-4000:]}")
        try:
            if http_status(service.port, "/health/live") == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    pytest.fail(f"service not live after {STARTUP_SECONDS}s:\n{service.log.read_text()[-4000:]}")


def service_environment(
    container: dict[str, Any],
    postgres_port: int,
    redis_port: int,
    secret_values: dict[str, str],
    port: int,
    redis_ca: Path,
) -> dict[str, str]:
    """Exactly the task definition's variables, values pointed at the local servers.

    Two additions, neither read by the contract: SSL_CERT_FILE makes the default TLS context trust the
    throwaway Redis certificate (on AWS the system CAs trust ElastiCache), and PORT moves the listener off
    8000, which may be in use on a shared machine (8000 itself is checked statically above).
    """
    env = environment_of(container)
    redis_url = urllib.parse.urlsplit(env["REDIS_URL"])
    assert redis_url.scheme == "rediss"
    env |= {
        "DB_HOST": "127.0.0.1",
        "DB_PORT": str(postgres_port),
        "REDIS_URL": f"rediss://localhost:{redis_port}{redis_url.path}",
    }
    assert sorted(secret_values) == sorted(secret_names_of(container))
    return {
        **env,
        **secret_values,
        "SSL_CERT_FILE": str(redis_ca),
        "PORT": str(port),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }


@contextmanager
def tls_only_postgres(workdir: Path, bins: dict[str, str], cert: Path, key: Path) -> Iterator[Postgres]:
    postgres = start_tls_only_postgres(workdir, bins, cert, key)
    try:
        yield postgres
    finally:
        stop_by_pid(postgres.pid, signal.SIGINT)  # PostgreSQL's "fast" shutdown


@contextmanager
def tls_only_redis(
    workdir: Path, redis_server: str, cert: Path, key: Path, token: str
) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    port, process = start_tls_only_redis(workdir, redis_server, cert, key, token)
    try:
        yield port, process
    finally:
        stop_child(process)


@contextmanager
def running_service(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "auth_service", "serve"],
            cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        yield process
    finally:
        stop_child(process)


@pytest.fixture(scope="module")
def live_service(container: dict[str, Any]) -> Iterator[LiveService]:
    bins = require_binaries()
    env = environment_of(container)
    secret_values = {
        "DB_PASSWORD": secrets.token_urlsafe(24),
        "REDIS_AUTH_TOKEN": secrets.token_urlsafe(32),
        "JWT_PRIVATE_KEY": signing_key_pem(),
    }
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="aidlc-contract-")))
        workdir.chmod(0o755)  # the postgres OS user must reach its data directory inside
        cert, key = self_signed_certificate(workdir, bins["openssl"])
        postgres = stack.enter_context(tls_only_postgres(workdir, bins, cert, key))
        create_role_and_database(postgres, bins["psql"], env["DB_USER"], env["DB_NAME"], secret_values["DB_PASSWORD"])
        redis_port, redis = stack.enter_context(
            tls_only_redis(workdir, bins["redis-server"], cert, key, secret_values["REDIS_AUTH_TOKEN"])
        )
        port = free_port()
        service_env = service_environment(container, postgres.port, redis_port, secret_values, port, cert)
        log = workdir / "service.log"
        process = stack.enter_context(running_service(service_env, log))
        service = LiveService(port=port, env=service_env, process=process, redis=redis, log=log)
        wait_until_live(service)
        yield service


def run_container_health_check(container: dict[str, Any], env: dict[str, str]) -> int:
    kind, *command = container["healthCheck"]["command"]
    assert kind == "CMD"
    return subprocess.run(command, env=env, cwd=ROOT, capture_output=True, timeout=30).returncode


def test_container_health_check_passes_against_the_running_service(
    live_service: LiveService, container: dict[str, Any]
) -> None:
    assert run_container_health_check(container, live_service.env) == 0


def test_target_group_health_path_is_200_with_tls_postgres_and_tls_redis(
    live_service: LiveService, staging: StackGraph
) -> None:
    assert http_status(live_service.port, target_group_health_path(staging)) == 200


def test_readiness_fails_when_redis_is_gone_and_health_check_fails_when_the_service_is_gone(
    live_service: LiveService, staging: StackGraph, container: dict[str, Any]
) -> None:
    """The probes are not vacuous: each turns red when what it guards is down. (Runs last: it stops things.)"""
    stop_child(live_service.redis)
    assert http_status(live_service.port, target_group_health_path(staging)) == 503
    assert http_status(live_service.port, "/health/live") == 200

    stop_child(live_service.process)
    assert run_container_health_check(container, live_service.env) != 0
