"""`python -m devenv run`: serve the API on http://127.0.0.1:8000 with whatever PostgreSQL/Redis is at hand."""

from __future__ import annotations

import asyncio
import os
import sys

from devenv.database_admin import create_database
from devenv.services import admin_postgres_url, redis_url, with_database

LOCAL_DATABASE = "aidlc_auth"


def run() -> int:
    env = dict(os.environ)
    if "DATABASE_URL" not in env and "DB_HOST" not in env:
        admin = admin_postgres_url()
        asyncio.run(create_database(admin, LOCAL_DATABASE, if_missing=True))
        env["DATABASE_URL"] = with_database(admin, LOCAL_DATABASE)
    env.setdefault("REDIS_URL", redis_url())
    env.setdefault("ENVIRONMENT", "local")  # a developer machine, not a deployment (ephemeral signing key)
    env.setdefault("HOST", "127.0.0.1")
    env.setdefault("PORT", "8000")
    env.setdefault("ENVIRONMENT", "local")  # an ephemeral signing key is fine here, and only here
    print(f"[devenv] serving on http://{env['HOST']}:{env['PORT']}/docs", flush=True)
    # Run in this process so embedded servers (if any) live exactly as long as the service.
    os.environ.update(env)
    from auth_service.__main__ import main

    return main(["serve"])


if __name__ == "__main__":
    if sys.argv[1:] != ["run"]:
        sys.exit("usage: python -m devenv run")
    sys.exit(run())
