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
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from starlette.routing import Match

from components.compute import RDS_CA_BUNDLE_PATH
from scripts.offline_stack import ROOT, StackGraph
from tests.support.servers import PostgresServer, ServiceProcess, free_port, missing_binary, skip_or_fail_in_ci
from tests.support.tls import TlsRedisServer, TlsUnsupported, self_signed_certificate

CONTRACT_DOC = ROOT / "docs" / "container-contract.md"
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
    arguments: dict[str, Any] = {name.lower(): value for name, value in values.items()}  # strings, as in the env
    settings = Settings(**arguments)
    assert settings.db_sslmode == "verify-full"
    assert settings.db_sslrootcert == RDS_CA_BUNDLE_PATH
    assert settings.redis_url.startswith("rediss://")
    assert settings.trusted_proxy_count == 1


def test_the_image_carries_the_ca_bundle_where_the_task_definition_points() -> None:
    """The Dockerfile fetches Amazon RDS's bundle at build time (from a build ARG) to DB_SSLROOTCERT's path."""
    dockerfile = (ROOT / "auth_service" / "Dockerfile").read_text()
    assert re.search(
        r"^ARG RDS_CA_BUNDLE_URL=https://truststore\.pki\.rds\.amazonaws\.com/global/global-bundle\.pem$",
        dockerfile,
        flags=re.MULTILINE,
    )
    final_stage = dockerfile.split("\nFROM ")[-1]
    assert RDS_CA_BUNDLE_PATH in re.findall(r"^COPY --from=build \S+ (\S+)$", final_stage, flags=re.MULTILINE)


def test_port_and_health_checks_match_what_the_service_serves(
    staging: StackGraph, container: dict[str, Any], tmp_path: Path
) -> None:
    from auth_service.bootstrap import create_app
    from auth_service.settings import Settings

    (mapping,) = container["portMappings"]
    assert Settings.model_fields["port"].default == mapping["containerPort"] == 8000
    assert Settings.model_fields["host"].default == "0.0.0.0"  # noqa: S104 - must listen beyond loopback
    assert container["healthCheck"]["command"] == ["CMD", "python", "-m", "auth_service", "healthcheck"]

    environment = environment_of(container)
    # The image's CA bundle is not on this machine: a stand-in CA at another path (the engine loads it eagerly).
    environment["DB_SSLROOTCERT"] = str(self_signed_certificate(tmp_path).cert_file)
    arguments: dict[str, Any] = {name.lower(): value for name, value in environment.items()}  # strings, as in the env
    settings = Settings(**arguments, jwt_private_key=signing_key_pem())
    app = create_app(settings)  # connects lazily: no servers needed to match routes
    assert serves_get(app, target_group_health_path(staging))
    assert serves_get(app, "/health/live")  # what `python -m auth_service healthcheck` fetches
    assert not serves_get(app, "/health/missing")


def serves_get(app: Any, path: str) -> bool:
    """Whether one of app.routes fully matches `GET path` (included routers hide their paths in FastAPI 0.16x)."""
    scope = {"type": "http", "method": "GET", "path": path, "root_path": "", "path_params": {}, "headers": []}
    return any(route.matches({**scope, "app": app})[0] == Match.FULL for route in app.routes)


# --- live half: throwaway TLS-only PostgreSQL and Redis (tests/support) ---------------------------


def require_binaries() -> None:
    missing = [reason for kind in ("postgres", "redis") if (reason := missing_binary(kind))]
    if missing:
        skip_with_reason(f"contract test needs server binaries that are missing here: {'; '.join(missing)}")


def skip_with_reason(reason: str) -> NoReturn:
    skip_or_fail_in_ci(reason)


@dataclass
class LiveService:
    env: dict[str, str]
    service: ServiceProcess
    redis: TlsRedisServer
    postgres: PostgresServer

    @property
    def port(self) -> int:
        return self.service.port


def http_status(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def service_environment(
    container: dict[str, Any],
    postgres_port: int,
    redis_port: int,
    secret_values: dict[str, str],
    port: int,
    redis_ca: Path,
) -> dict[str, str]:
    """Exactly the task definition's variables, values pointed at the local servers.

    DB_SSLROOTCERT points at the throwaway servers' CA instead of the image's RDS bundle (same verify-full).
    Two additions, neither read by the contract: SSL_CERT_FILE makes the default TLS context trust the
    throwaway Redis certificate (on AWS the system CAs trust ElastiCache), and PORT moves the listener off
    8000, which may be in use on a shared machine (8000 itself is checked statically above). PATH is the
    image's, not the task definition's: it lets the health check's `python` be this interpreter.
    """
    env = environment_of(container)
    redis_url = urllib.parse.urlsplit(env["REDIS_URL"])
    assert redis_url.scheme == "rediss"
    env |= {
        "DB_HOST": "127.0.0.1",
        "DB_PORT": str(postgres_port),
        "DB_SSLROOTCERT": str(redis_ca),
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


@pytest.fixture(scope="module")
def live_service(container: dict[str, Any]) -> Iterator[LiveService]:
    require_binaries()
    env = environment_of(container)
    secret_values = {
        "DB_PASSWORD": secrets.token_urlsafe(24),
        "REDIS_AUTH_TOKEN": secrets.token_urlsafe(32),
        "JWT_PRIVATE_KEY": signing_key_pem(),
    }
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="aidlc-contract-")))
        certificate = self_signed_certificate(workdir)
        postgres = PostgresServer(tls=certificate)
        stack.callback(postgres.close)  # PostgreSQL's "fast" shutdown, by the postmaster's PID
        postgres.init().start()
        postgres.create_role_and_database(env["DB_USER"], env["DB_NAME"], secret_values["DB_PASSWORD"])
        redis = TlsRedisServer(secret_values["REDIS_AUTH_TOKEN"], certificate=certificate)
        stack.callback(redis.close)
        try:
            redis.start()
        except TlsUnsupported as reason:
            skip_with_reason(f"contract test needs a TLS-capable redis-server: {reason}")
        service_env = service_environment(
            container, postgres.port, redis.port, secret_values, free_port(), certificate.cert_file
        )
        service = ServiceProcess(service_env, exact_env=True)
        assert service.env == service_env  # nothing added: the task definition's variables are enough
        stack.callback(service.close)
        service.start(timeout=STARTUP_SECONDS)
        yield LiveService(env=service_env, service=service, redis=redis, postgres=postgres)


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


def test_throwaway_postgres_refuses_connections_without_tls(live_service: LiveService) -> None:
    """The live test means "TLS-only PostgreSQL" only if a plain connection is really refused."""
    env = live_service.env
    psql = live_service.postgres.psql
    assert psql is not None

    def connect(sslmode: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [psql, "-h", "127.0.0.1", "-p", env["DB_PORT"], "-U", env["DB_USER"], "-d", env["DB_NAME"],
             "-c", "SELECT 1"],
            env={**os.environ, "PGPASSWORD": env["DB_PASSWORD"], "PGSSLMODE": sslmode},
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip

    assert connect("require").returncode == 0
    plain = connect("disable")
    assert plain.returncode != 0
    assert "no encryption" in plain.stderr


def test_targets_stay_healthy_when_redis_is_gone_and_health_check_fails_when_the_service_is_gone(
    live_service: LiveService, staging: StackGraph, container: dict[str, Any]
) -> None:
    """A shared dependency's outage shows on /health/ready but does not make the ALB and ECS replace every task;
    the container check still turns red when the service itself is down. (Runs last: it stops things.)"""
    live_service.redis.stop()
    assert http_status(live_service.port, "/health/ready") == 503
    assert http_status(live_service.port, target_group_health_path(staging)) == 200

    live_service.service.stop()
    assert run_container_health_check(container, live_service.env) != 0
