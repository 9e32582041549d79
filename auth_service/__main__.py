"""Command line: `python -m auth_service serve | migrate | healthcheck | unblock --account EMAIL | --ip ADDRESS`."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import ipaddress
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


def unblock_command(settings: Settings, email: str | None, ip: str | None) -> int:
    """Lift the throttles of an account and/or a client address (docs/operations.md, "Lift a block")."""
    from auth_service.bootstrap import lift_throttles

    operator = os.environ.get("UNBLOCK_OPERATOR") or getpass.getuser()
    try:
        lifted = asyncio.run(lift_throttles(settings, email=email, ip=ip, operator=operator))
    except ValueError as exc:
        print(f"unblock: {exc}", file=sys.stderr)
        return 2
    log.info(
        "throttle lifted",
        extra={"account": email, "ip": ip, "removed": lifted.removed, "audited": lifted.audited, "operator": operator},
    )
    print(f"unblocked {' and '.join(filter(None, [email, ip]))}: {lifted.removed} limiter entries removed", flush=True)
    return 0


def _address(text: str) -> str:
    """The form the limiter keys use (the service normalises every client address the same way)."""
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an IP address: {text!r}") from None


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
    parser.add_argument("command", choices=["serve", "migrate", "healthcheck", "unblock"])
    parser.add_argument("--account", help="unblock: the account's email")
    parser.add_argument("--ip", type=_address, help="unblock: the client address")
    args = parser.parse_args(argv)
    if args.command == "unblock" and not (args.account or args.ip):
        parser.error("unblock needs --account EMAIL and/or --ip ADDRESS")
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
    if args.command == "unblock":
        return unblock_command(settings, args.account, args.ip)
    return serve_command(settings)


if __name__ == "__main__":
    sys.exit(main())
