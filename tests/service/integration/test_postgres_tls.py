"""DB_SSLMODE=verify-full with DB_SSLROOTCERT, against a throwaway TLS-only PostgreSQL and CAs made here.

On AWS the CA bundle is Amazon RDS's (in the image); here each test makes its own certificate authority.
"""

import secrets
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from auth_service.bootstrap import migrate_with_retry
from auth_service.settings import Settings
from tests.service.integration.helpers import assert_problem
from tests.support.app import serving, unique_email, with_settings
from tests.support.servers import PostgresServer, missing_binary, skip_or_fail_in_ci
from tests.support.tls import Certificate, self_signed_certificate

DB_USER, DB_NAME = "tls_user", "tls_db"


@dataclass
class TlsPostgres:
    server: PostgresServer
    certificate: Certificate
    password: str
    workdir: Path


def _start(certificate: Certificate, workdir: Path) -> TlsPostgres:
    server = PostgresServer(tls=certificate)
    server.init().start()
    password = secrets.token_urlsafe(16)
    server.create_role_and_database(DB_USER, DB_NAME, password)
    return TlsPostgres(server, certificate, password, workdir)


@pytest.fixture(scope="module")
def tls_postgres() -> Iterator[TlsPostgres]:
    if reason := missing_binary("postgres"):
        print(reason)
        skip_or_fail_in_ci(reason)
    with tempfile.TemporaryDirectory(prefix="pg-ca-") as workdir:
        postgres = _start(self_signed_certificate(Path(workdir)), Path(workdir))
        try:
            yield postgres
        finally:
            postgres.server.close()


def _settings(base: Settings, postgres: TlsPostgres, ca_file: Path, sslmode: str = "verify-full") -> Settings:
    return with_settings(
        base,
        database_url=None,
        db_host="127.0.0.1",
        db_port=postgres.server.port,
        db_user=DB_USER,
        db_name=DB_NAME,
        db_password=postgres.password,
        db_sslmode=sslmode,
        db_sslrootcert=str(ca_file),
    )


def _other_ca(postgres: TlsPostgres, hosts: tuple[str, ...] = ("localhost", "127.0.0.1")) -> Path:
    directory = Path(tempfile.mkdtemp(dir=postgres.workdir))
    return self_signed_certificate(directory, hosts=hosts).cert_file


async def test_verify_full_with_the_right_ca_serves(settings: Settings, tls_postgres: TlsPostgres) -> None:
    verified = _settings(settings, tls_postgres, tls_postgres.certificate.cert_file)
    await migrate_with_retry(verified)
    async with serving(verified) as svc:
        assert (await svc.client.get("/health/ready")).status_code == 200
        user = await svc.register()
        await svc.login(user["email"])


async def test_a_server_certificate_from_another_ca_is_refused_with_503(
    settings: Settings, tls_postgres: TlsPostgres
) -> None:
    wrong = _settings(settings, tls_postgres, _other_ca(tls_postgres))
    async with serving(wrong) as svc:
        assert_problem(await svc.client.get("/health/ready"), 503, "not_ready")
        response = await svc.client.post(
            "/auth/register",
            json={"email": unique_email(), "password": "Gorilla-Marmalade-Tundra-42", "display_name": "X"},
        )
        assert_problem(response, 503, "dependency_unavailable")


async def test_startup_stops_at_once_with_a_clear_error_on_a_wrong_ca(
    settings: Settings, tls_postgres: TlsPostgres, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = _settings(settings, tls_postgres, _other_ca(tls_postgres))
    with pytest.raises(RuntimeError, match="DB_SSLROOTCERT"):
        await migrate_with_retry(wrong)
    assert "attempt 2" not in caplog.text  # no retrying a certificate that will not verify


async def test_a_missing_ca_bundle_is_a_startup_error(settings: Settings, tls_postgres: TlsPostgres) -> None:
    missing = _settings(settings, tls_postgres, tls_postgres.workdir / "absent.pem")
    with pytest.raises(RuntimeError, match="DB_SSLROOTCERT"):
        await migrate_with_retry(missing)


async def test_verify_full_checks_the_host_name_and_verify_ca_does_not(settings: Settings) -> None:
    if reason := missing_binary("postgres"):
        skip_or_fail_in_ci(reason)
    with tempfile.TemporaryDirectory(prefix="pg-ca-") as workdir:
        certificate = self_signed_certificate(Path(workdir), common_name="db.example", hosts=("db.example",))
        postgres = _start(certificate, Path(workdir))
        try:
            with pytest.raises(RuntimeError, match="DB_SSLROOTCERT"):
                await migrate_with_retry(_settings(settings, postgres, certificate.cert_file, "verify-full"))
            await migrate_with_retry(_settings(settings, postgres, certificate.cert_file, "verify-ca"))
        finally:
            postgres.server.close()
