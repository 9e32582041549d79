"""`python -m devenv run`: serve the API on http://127.0.0.1:8000 with whatever PostgreSQL/Redis is at hand.
`python -m devenv unblock --account EMAIL | --ip ADDRESS`: lift a throttle of that local service (`make unblock
LOCAL=1`)."""

from __future__ import annotations

import asyncio
import os
import sys

from devenv.database_admin import create_database
from devenv.services import admin_postgres_url, redis_url, with_database

LOCAL_DATABASE = "aidlc_auth"


def _local_environment() -> dict[str, str]:
    """The environment `make run` serves with: its database and Redis."""
    env = dict(os.environ)
    if "DATABASE_URL" not in env and "DB_HOST" not in env:
        admin = admin_postgres_url()
        asyncio.run(create_database(admin, LOCAL_DATABASE, if_missing=True))
        env["DATABASE_URL"] = with_database(admin, LOCAL_DATABASE)
    env.setdefault("REDIS_URL", redis_url())
    env.setdefault("ENVIRONMENT", "local")  # a developer machine, not a deployment (ephemeral signing key)
    return env


def unblock(arguments: list[str]) -> int:
    os.environ.update(_local_environment())
    from auth_service.__main__ import main

    # Its database may never have been served yet: migrating is idempotent and takes the migration lock.
    return main(["migrate"]) or main(["unblock", *arguments])


def run() -> int:
    env = _local_environment()
    env.setdefault("HOST", "127.0.0.1")
    env.setdefault("PORT", "8000")
    env.setdefault("ENVIRONMENT", "local")  # an ephemeral signing key is fine here, and only here
    print(f"[devenv] serving on http://{env['HOST']}:{env['PORT']}/docs", flush=True)
    # Run in this process so embedded servers (if any) live exactly as long as the service.
    os.environ.update(env)
    from auth_service.__main__ import main

    return main(["serve"])


if __name__ == "__main__":
    if sys.argv[1:2] == ["unblock"]:
        sys.exit(unblock(sys.argv[2:]))
    if sys.argv[1:] != ["run"]:
        sys.exit("usage: python -m devenv run | unblock --account EMAIL | --ip ADDRESS")
    sys.exit(run())
