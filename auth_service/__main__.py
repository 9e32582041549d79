"""Command line: `python -m auth_service serve | migrate | healthcheck`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
import urllib.request

from auth_service.settings import Settings

log = logging.getLogger("auth_service")


def migrate_command(settings: Settings) -> int:
    from auth_service.bootstrap import migrate_with_retry  # imported here: healthcheck needs none of it

    asyncio.run(migrate_with_retry(settings))
    return 0


def serve_command(settings: Settings) -> int:
    import uvicorn

    from auth_service.bootstrap import ensure_signing_key, migrate_with_retry

    ensure_signing_key(settings)
    asyncio.run(migrate_with_retry(settings))
    uvicorn.run(
        "auth_service.bootstrap:app_from_environment",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.web_concurrency,
        log_config=None,
        access_log=False,
        proxy_headers=False,  # the app reads X-Forwarded-For itself, trusting TRUSTED_PROXY_COUNT hops
        server_header=False,
        timeout_graceful_shutdown=20,
    )
    return 0


def healthcheck_command() -> int:
    """Container health check: GET /health/live on the local port. No curl in the image, so Python."""
    port = int(os.environ.get("PORT", "8000"))
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/live", timeout=3) as response:
            return 0 if response.status == 200 else 1
    except OSError:
        return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m auth_service")
    parser.add_argument("command", choices=["serve", "migrate", "healthcheck"])
    args = parser.parse_args(argv)
    if args.command == "healthcheck":
        return healthcheck_command()
    settings = Settings()
    from auth_service.logs import configure_logging

    configure_logging(settings.log_level)
    started = time.monotonic()
    if args.command == "migrate":
        code = migrate_command(settings)
        log.info("migrations finished in %.1f s", time.monotonic() - started)
        return code
    return serve_command(settings)


if __name__ == "__main__":
    sys.exit(main())
