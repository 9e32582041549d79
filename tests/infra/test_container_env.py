"""scripts/container_env.py: the environment the image runs with outside AWS (checks workflow, make image-check)
is the task definition's, with only the documented replacements."""

from __future__ import annotations

from typing import Any

import pytest

from scripts import container_env
from scripts.container_env import LocalServers

SERVERS = LocalServers(db_name="image_ci", port=8123, key_prefix="ci:")


def test_every_task_definition_variable_is_kept_and_only_the_endpoints_are_replaced(container: dict[str, Any]) -> None:
    original = {item["name"]: item["value"] for item in container["environment"]}
    env = container_env.local_environment(container, SERVERS, db_password="pw")
    changed = {name for name in original if env[name] != original[name]}
    assert changed <= set(container_env.REASONS)
    assert changed == {"DB_HOST", "DB_NAME", "DB_USER", "DB_SSLMODE", "REDIS_URL"}  # DB_PORT is 5432 on both
    assert set(env) - set(original) == {"PORT", "REDIS_KEY_PREFIX", "DB_PASSWORD"}
    assert (env["DB_SSLMODE"], env["REDIS_URL"], env["PORT"]) == ("disable", "redis://127.0.0.1:6379/0", "8123")
    assert "REDIS_AUTH_TOKEN" not in env and "JWT_PRIVATE_KEY" not in env  # no AUTH locally; the key goes apart
    assert env["ENVIRONMENT"] == original["ENVIRONMENT"] == "staging"


def test_each_replacement_is_reported_with_its_reason(container: dict[str, Any]) -> None:
    env = container_env.local_environment(container, SERVERS, db_password="pw")
    report = "\n".join(container_env.replaced(container, env))
    assert "DB_SSLMODE=disable  (the local PostgreSQL has no TLS" in report
    assert "task definition: verify-full" in report
    assert "PORT=8123" in report and "DB_PASSWORD" not in report


def test_an_unknown_secret_in_the_task_definition_stops_it(container: dict[str, Any]) -> None:
    extended = {**container, "secrets": [*container["secrets"], {"name": "NEW_SECRET", "valueFrom": "arn:x"}]}
    with pytest.raises(SystemExit, match="NEW_SECRET"):
        container_env.local_environment(extended, SERVERS, db_password="pw")


def test_env_file_and_nul_renderings() -> None:
    assert container_env.render({"A": "1", "B": "x y"}, nul=False) == "A=1\nB=x y\n"
    assert container_env.render({"A": "1"}, nul=True) == "A=1\0"
    with pytest.raises(SystemExit, match="line break"):
        container_env.render({"JWT_PRIVATE_KEY": "-----BEGIN\nKEY-----"}, nul=False)
    assert container_env.signing_key_pem().startswith("-----BEGIN PRIVATE KEY-----")
