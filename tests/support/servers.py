"""Throwaway servers a test starts, owns and stops by their own PID: Redis, PostgreSQL, the service itself.

The one home for these servers (tests/support/tls.py adds the TLS-only Redis and certificates); the process
plumbing under them (free ports, waiting, stopping by PID) is devenv/processes.py, which bench/ uses too. Each
helper records the PID of the process it started (for PostgreSQL, the postmaster's PID from
postmaster.pid) and signals only that PID. Missing binaries are reported through `missing_binary()`, and
`skip_or_fail_in_ci()` turns that into a skip with a printed reason locally, a failure in CI.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import pytest

from devenv.processes import ProcessExited, start_logged, stop_pid, wait_until_live
from devenv.processes import free_port as free_port
from devenv.processes import stop_child as stop_child
from devenv.processes import wait_for_port as wait_for_port

if TYPE_CHECKING:
    from tests.support.tls import Certificate

REPO_ROOT = Path(__file__).resolve().parents[2]
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def _postgres_bin_dir() -> Path | None:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name))
    for candidate in reversed(candidates):
        if all((Path(candidate) / name).exists() for name in ("initdb", "pg_ctl", "postgres")):
            return Path(candidate)
    return None


def _psql(bin_dir: Path | None) -> str | None:
    if bin_dir is not None and (bin_dir / "psql").exists():
        return str(bin_dir / "psql")
    return shutil.which("psql")


def missing_binary(kind: str) -> str | None:
    """Why a throwaway server of this kind cannot be started here, or None if it can."""
    if kind == "redis":
        return None if os.access(REDIS_SERVER, os.X_OK) else f"no redis-server binary ({REDIS_SERVER})"
    if kind == "postgres":
        if _postgres_bin_dir() is None:
            return "no PostgreSQL server binaries (initdb, pg_ctl, postgres) under /usr/lib/postgresql/*/bin"
        if _psql(_postgres_bin_dir()) is None:
            return "no psql binary (PostgreSQL client)"
        if os.geteuid() == 0 and shutil.which("runuser") is None:
            return "running as root without runuser: cannot start PostgreSQL as the postgres user"
        return None
    raise ValueError(kind)


def running_in_ci() -> bool:
    """GitHub Actions (and most CI systems, and .ci/run) set CI=true."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def skip_or_fail_in_ci(reason: str) -> NoReturn:
    """A tool this test needs is missing. Locally: skip, printing why. In CI: fail, so CI cannot go green by
    skipping the tests that matter most (the contract, TLS Redis and fault-injection tests)."""
    if running_in_ci():
        pytest.fail(f"{reason} (CI is set: install it instead of skipping)", pytrace=False)
    print(f"\nSKIPPED: {reason}")
    pytest.skip(reason)


class RedisServer:
    """`redis-server` on a free port, no persistence (a restart comes back empty, like a replaced node)."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="throwaway-redis-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        assert self.process is None or self.process.poll() is not None, "already running"
        self.process = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
                "--daemonize",
                "no",
                "--logfile",
                str(self.dir / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, 10)
        return self

    def kill(self) -> None:
        """Crash it (SIGKILL): connections drop at once, nothing is flushed."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


class PostgresServer:
    """A fresh PostgreSQL cluster in a temp dir on a free port, run as the `postgres` OS user.

    Plain (default): trust auth on every connection, `url` connects as the superuser.
    TLS-only (`tls=` a certificate): like RDS with forced TLS. ssl=on with that certificate and key, and
    pg_hba.conf allows only the superuser over the Unix socket (trust, for `create_role_and_database`)
    and password (scram-sha-256) logins over TLS from 127.0.0.1; any TCP connection without TLS is
    rejected. `url` does not work in this mode: connect as a role made by `create_role_and_database`.
    """

    TLS_ONLY_HBA = (
        "local all postgres trust\nhostssl all all 127.0.0.1/32 scram-sha-256\nhostnossl all all 0.0.0.0/0 reject\n"
    )

    def __init__(self, port: int | None = None, *, tls: Certificate | None = None) -> None:
        bin_dir = _postgres_bin_dir()
        assert bin_dir is not None, missing_binary("postgres")
        self.bin = bin_dir
        self.psql = _psql(bin_dir)
        self.port = port or free_port()
        self.tls = tls
        self.root = Path(tempfile.mkdtemp(prefix="throwaway-pg-"))
        self.data = self.root / "data"
        self.socket_dir = self.root / "sock"
        self.log = self.root / "postgres.log"
        self.pid: int | None = None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, *argv: str) -> list[str]:
        """initdb and postgres refuse to run as root: run them as the `postgres` OS user when we are root."""
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--", *argv]
        return list(argv)

    def init(self) -> PostgresServer:
        self.socket_dir.mkdir(parents=True)
        owned = [self.root, self.socket_dir]
        if self.tls is not None:
            # The server reads its own copies: the key must belong to the postgres user, mode 0600.
            tls_dir = self.root / "tls"
            tls_dir.mkdir()
            shutil.copy(self.tls.cert_file, tls_dir / "server.crt")
            shutil.copy(self.tls.key_file, tls_dir / "server.key")
            (tls_dir / "server.key").chmod(0o600)
            owned += [tls_dir, tls_dir / "server.crt", tls_dir / "server.key"]
        if os.geteuid() == 0:
            for path in owned:
                shutil.chown(path, "postgres", "postgres")
        subprocess.run(
            self._as_postgres(
                str(self.bin / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--no-instructions",
            ),
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        if self.tls is not None:
            (self.data / "pg_hba.conf").write_text(self.TLS_ONLY_HBA)
            with (self.data / "postgresql.conf").open("a") as conf:
                conf.write(
                    f"ssl = on\nssl_cert_file = '{self.root / 'tls' / 'server.crt'}'\n"
                    f"ssl_key_file = '{self.root / 'tls' / 'server.key'}'\n"
                )
        return self

    def start(self) -> PostgresServer:
        options = (
            f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60"
        )
        subprocess.run(
            self._as_postgres(
                str(self.bin / "pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.log),
                "-o",
                options,
                "-w",
                "-t",
                "30",
                "start",
            ),
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.pid = int((self.data / "postmaster.pid").read_text().splitlines()[0])
        wait_for_port(self.port, 10)
        return self

    def create_role_and_database(self, user: str, database: str, password: str) -> None:
        """A login role with this password and a database it owns, made by the superuser over the Unix socket."""
        for identifier in (user, database):
            assert re.fullmatch(r"[a-z_][a-z0-9_]*", identifier), f"not a plain identifier: {identifier!r}"
        assert self.psql is not None, missing_binary("postgres")
        literal = "'" + password.replace("'", "''") + "'"
        for statement in (f"CREATE ROLE {user} LOGIN PASSWORD {literal}", f"CREATE DATABASE {database} OWNER {user}"):
            subprocess.run(
                [
                    self.psql,
                    "-h",
                    str(self.socket_dir),
                    "-p",
                    str(self.port),
                    "-U",
                    "postgres",
                    "-d",
                    "postgres",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-c",
                    statement,
                ],
                check=True,
                capture_output=True,
            )

    def stop(self, mode: str = "fast") -> None:
        """Stop the postmaster by its own PID: fast (SIGINT) ends every session like a restart would;
        immediate (SIGQUIT) is a crash without a shutdown checkpoint."""
        if self.pid is None:
            return
        sig = {"fast": signal.SIGINT, "immediate": signal.SIGQUIT}[mode]
        stop_pid(self.pid, sig, timeout=30)
        self.pid = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


class ServiceProcess:
    """`python -m auth_service serve` as a real subprocess, its stdout/stderr (JSON logs) in a file."""

    def __init__(self, env: dict[str, str], *, port: int | None = None, exact_env: bool = False) -> None:
        """By default `env` is laid over this process's environment, with HOST=127.0.0.1 and a free PORT.
        With `exact_env`, the service gets `env` and nothing else (it must set PORT): for checking that a
        given set of variables is enough on its own."""
        if exact_env:
            assert port is None, "with exact_env the port comes from env['PORT']"
            self.port = int(env["PORT"])
            self.env = dict(env)
        else:
            self.port = port or free_port()
            self.env = {
                **os.environ,
                "HOST": "127.0.0.1",
                "PORT": str(self.port),
                "PYTHONUNBUFFERED": "1",
                "ENVIRONMENT": "local",
                **env,
            }
        self.log_path = Path(tempfile.mkstemp(prefix="auth-service-", suffix=".log")[1])
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> ServiceProcess:
        self.process = start_logged(
            [sys.executable, "-m", "auth_service", "serve"],
            env=self.env,
            log_path=self.log_path,
            cwd=REPO_ROOT,
            mode="ab",
        )
        try:
            wait_until_live(self.base_url, self.process, timeout, interval=0.1)
        except ProcessExited:
            raise RuntimeError(f"service exited with {self.process.returncode}:\n{self.output()[-4000:]}") from None
        except TimeoutError:
            self.stop()
            raise TimeoutError(f"service not live after {timeout} s:\n{self.output()[-4000:]}") from None
        return self

    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        """SIGTERM (a graceful shutdown, as ECS stops a task), SIGKILL after 25 s."""
        if self.process is not None:
            stop_child(self.process, timeout=25)

    def close(self) -> None:
        self.stop()
        self.log_path.unlink(missing_ok=True)
