"""The task definition's environment, pointed at a local PostgreSQL and Redis, for running the built image.

    python -m scripts.container_env --db-name NAME --jwt-key-out FILE [--port 8000] [--key-prefix P] [--nul]

Reads the container definition of the real program under Pulumi mocks (the same one `pulumi up` would
register), keeps every variable and replaces only what must point elsewhere outside AWS; every replacement is
reported on stderr. Prints KEY=VALUE lines (a `docker run --env-file` file) or, with --nul, NUL-terminated
entries for `env -i`. The JWT private key is a multi-line PEM, which an env-file cannot hold: it is written
to --jwt-key-out and the caller passes it as JWT_PRIVATE_KEY.

Used by the checks workflow (docker run beside PostgreSQL and Redis service containers) and by
`make image-check` (buildah here, where no Docker engine runs).
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class LocalServers:
    db_host: str = "127.0.0.1"
    db_port: int = 5432
    db_name: str = "aidlc_auth"
    db_user: str = "postgres"
    redis_url: str = "redis://127.0.0.1:6379/0"
    port: int = 8000
    key_prefix: str | None = None


# Why each replaced variable differs from the task definition outside AWS.
REASONS = {
    "DB_HOST": "the local PostgreSQL instead of the RDS endpoint",
    "DB_PORT": "the local PostgreSQL's port",
    "DB_NAME": "a throwaway database for this run",
    "DB_USER": "the local superuser (trust auth) instead of the RDS master user",
    "DB_SSLMODE": "the local PostgreSQL has no TLS (TLS to PostgreSQL is proven by tests/infra/test_contract.py)",
    "REDIS_URL": "the local Redis without TLS/AUTH (TLS + AUTH to Redis are proven by test_contract.py)",
    "PORT": "a free port on a shared machine (the image's default is 8000)",
    "REDIS_KEY_PREFIX": "a key namespace of its own on a shared Redis",
}


def task_container() -> dict[str, Any]:
    """The service's container definition, from the real program under mocks."""
    from scripts.offline_stack import run_offline

    task = run_offline().one("aws:ecs/taskDefinition:TaskDefinition")
    (container,) = json.loads(task.plain["containerDefinitions"])
    result: dict[str, Any] = container
    return result


def local_environment(container: dict[str, Any], servers: LocalServers, db_password: str) -> dict[str, str]:
    """Every variable of the task definition, the listed ones replaced, plus the secrets (except the JWT key)."""
    env = {item["name"]: item["value"] for item in container["environment"]}
    replacements = {
        "DB_HOST": servers.db_host,
        "DB_PORT": str(servers.db_port),
        "DB_NAME": servers.db_name,
        "DB_USER": servers.db_user,
        "DB_SSLMODE": "disable",
        "REDIS_URL": servers.redis_url,
        "PORT": str(servers.port),
    }
    if servers.key_prefix:
        replacements["REDIS_KEY_PREFIX"] = servers.key_prefix
    secret_names = {item["name"] for item in container["secrets"]}
    unexpected = secret_names - {"DB_PASSWORD", "REDIS_AUTH_TOKEN", "JWT_PRIVATE_KEY"}
    if unexpected:
        raise SystemExit(f"container_env: the task definition has secrets this script does not know: {unexpected}")
    # REDIS_AUTH_TOKEN is left out: the local Redis has no AUTH, and AUTH against it would fail.
    return {**env, **replacements, "DB_PASSWORD": db_password}


def replaced(container: dict[str, Any], env: dict[str, str]) -> list[str]:
    original = {item["name"]: item["value"] for item in container["environment"]}
    return [
        f"{name}={env[name]}  ({REASONS[name]}; task definition: {original.get(name, 'unset')})"
        for name in REASONS
        if name in env and env[name] != original.get(name)
    ]


def render(env: dict[str, str], nul: bool) -> str:
    for name, value in env.items():
        if "\n" in value or "\0" in value:
            raise SystemExit(f"container_env: {name} holds a line break; an env-file cannot carry it")
    if nul:
        return "".join(f"{name}={value}\0" for name, value in env.items())
    return "".join(f"{name}={value}\n" for name, value in env.items())


def signing_key_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    return (
        ed25519.Ed25519PrivateKey.generate()
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db-host", default="127.0.0.1")
    parser.add_argument("--db-port", type=int, default=5432)
    parser.add_argument("--db-name", required=True, help="a database that exists (or that migrations may fill)")
    parser.add_argument("--db-user", default="postgres")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--key-prefix", default=None)
    parser.add_argument("--jwt-key-out", type=Path, required=True)
    parser.add_argument("--nul", action="store_true", help="NUL-terminated entries instead of env-file lines")
    args = parser.parse_args(argv)
    servers = LocalServers(
        args.db_host, args.db_port, args.db_name, args.db_user, args.redis_url, args.port, args.key_prefix
    )
    container = task_container()
    env = local_environment(container, servers, db_password=secrets.token_urlsafe(24))
    args.jwt_key_out.write_text(signing_key_pem())
    args.jwt_key_out.chmod(0o600)
    print("container_env: the task definition's environment, with these replacements:", file=sys.stderr)
    for line in replaced(container, env):
        print(f"  {line}", file=sys.stderr)
    sys.stdout.write(render(env, args.nul))
    return 0


if __name__ == "__main__":
    sys.exit(main())
