import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from auth_service.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[3]


def test_database_parts_become_an_asyncpg_url_with_escaped_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_HOST", "db.internal")
    monkeypatch.setenv("DB_PASSWORD", "p@ss/word:%")
    monkeypatch.setenv("DB_SSLMODE", "require")
    settings = Settings()
    assert (
        settings.sqlalchemy_url() == "postgresql+asyncpg://aidlc_user:p%40ss%2Fword%3A%25@db.internal:5432/aidlc_auth"
    )
    assert settings.db_sslmode == "require"


def test_database_url_is_converted_to_the_asyncpg_driver() -> None:
    assert Settings(database_url="postgresql://u@h/d").sqlalchemy_url() == "postgresql+asyncpg://u@h/d"


def test_a_database_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "DB_HOST"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValidationError, match="DATABASE_URL"):
        Settings()


def test_secrets_do_not_show_in_the_settings_repr() -> None:
    settings = Settings(db_host="h", db_password="topsecret", redis_auth_token="tok3n", jwt_private_key="k3y")
    assert not {"topsecret", "tok3n", "k3y"} & set(repr(settings).replace("'", " ").split())
    assert "topsecret" not in repr(settings)


def test_deployed_environments_refuse_to_start_without_a_signing_key(monkeypatch: pytest.MonkeyPatch) -> None:
    from auth_service.bootstrap import ensure_signing_key

    monkeypatch.setenv("JWT_PRIVATE_KEY", "set by this test")
    monkeypatch.delenv("JWT_PRIVATE_KEY")  # ensure_signing_key exports the key; undo restores the absence

    with pytest.raises(RuntimeError, match="JWT_PRIVATE_KEY is required"):
        ensure_signing_key(Settings(db_host="h", environment="staging"))
    local = ensure_signing_key(Settings(db_host="h", environment="local"))
    assert local.jwt_private_key is not None
    assert "PRIVATE KEY" in local.jwt_private_key.get_secret_value()


def test_without_environment_the_service_is_a_deployment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A task definition that forgets ENVIRONMENT must not get a throwaway signing key."""
    from auth_service.bootstrap import ensure_signing_key

    monkeypatch.delenv("ENVIRONMENT", raising=False)
    monkeypatch.delenv("JWT_PRIVATE_KEY", raising=False)
    with pytest.raises(RuntimeError, match="JWT_PRIVATE_KEY is required"):
        ensure_signing_key(Settings(db_host="h"))


def test_serve_refuses_to_start_without_environment_and_key() -> None:
    env = {"PATH": os.environ.get("PATH", ""), "DB_HOST": "127.0.0.1", "DB_PORT": "1", "PORT": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "auth_service", "serve"],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "JWT_PRIVATE_KEY is required" in result.stdout + result.stderr
