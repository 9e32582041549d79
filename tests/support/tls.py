"""A self-signed certificate and a throwaway TLS-only Redis, like ElastiCache with in-transit encryption."""

from __future__ import annotations

import datetime as dt
import ipaddress
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.servers import REDIS_SERVER, free_port, missing_binary, stop_child, wait_for_port


@dataclass(frozen=True)
class Certificate:
    cert_file: Path
    key_file: Path


def _subject_alternative_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def self_signed_certificate(
    directory: Path, common_name: str = "localhost", hosts: tuple[str, ...] = ("localhost", "127.0.0.1")
) -> Certificate:
    """A certificate for `hosts` that is its own CA (pass `cert_file` as the CA to trust)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([_subject_alternative_name(host) for host in hosts]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "server.crt", directory / "server.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_file.chmod(0o600)
    return Certificate(cert_file=cert_file, key_file=key_file)


class TlsUnsupported(RuntimeError):
    """redis-server is missing or was built without TLS."""


class TlsRedisServer:
    """redis-server listening only on TLS, requiring an AUTH password. Stopped by its own PID.

    Use as a context manager, or `start()` / `stop()` / `close()`. `certificate` defaults to a fresh
    self-signed one; pass one to share it with another server (its cert_file is then the one CA to trust).
    """

    def __init__(self, password: str, *, certificate: Certificate | None = None) -> None:
        self.password = password
        self.port = free_port()
        self._dir = Path(tempfile.mkdtemp(prefix="tls-redis-"))
        self._log = self._dir / "redis.log"
        self.certificate = certificate or self_signed_certificate(self._dir)
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"rediss://127.0.0.1:{self.port}/0"

    def start(self) -> TlsRedisServer:
        if reason := missing_binary("redis"):
            self.close()
            raise TlsUnsupported(reason)
        cert = self.certificate
        with self._log.open("wb") as log:
            self._process = subprocess.Popen(
                [
                    REDIS_SERVER,
                    "--port",
                    "0",
                    "--tls-port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--tls-cert-file",
                    str(cert.cert_file),
                    "--tls-key-file",
                    str(cert.key_file),
                    "--tls-ca-cert-file",
                    str(cert.cert_file),
                    "--tls-auth-clients",
                    "no",
                    "--requirepass",
                    self.password,
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(self._dir),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_for_port(self.port, timeout=10, process=self._process)
        except (TimeoutError, RuntimeError):
            self.close()  # raises TlsUnsupported if that is why it did not listen
            raise
        return self

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL) and reap it; a missing TLS build raises TlsUnsupported."""
        process, self._process = self._process, None
        if process is None:
            return
        stop_child(process, timeout=10)
        output = self._log.read_text(errors="replace").lower()
        if "tls" in output and ("bad directive" in output or "not supported" in output):
            raise TlsUnsupported("this redis-server was built without TLS support")

    def close(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> TlsRedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
