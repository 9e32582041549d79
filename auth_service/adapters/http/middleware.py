"""Per-request logging and headers, as plain ASGI (cheaper than BaseHTTPMiddleware on every request)."""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from auth_service.adapters.http.client_ip import client_ip

log = logging.getLogger("auth_service.access")

MAX_LOGGED_PATH = 512  # longer than any route; what a probe sent beyond this is not worth a log byte
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_DEFAULT_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]


class RequestLogMiddleware:
    """One JSON log line per request: request id, client IP (as the throttles see it, trusting
    `trusted_proxy_count` proxies), method, path (never the query), status, latency.

    Responses without an explicit Cache-Control get `no-store`: they carry tokens and personal data.
    """

    def __init__(self, app: ASGIApp, trusted_proxy_count: int = 0) -> None:
        self.app = app
        self.trusted_proxy_count = trusted_proxy_count

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                headers.append((b"x-request-id", request_id.encode()))
                headers.extend(h for h in _DEFAULT_HEADERS if h[0] not in names)
                if b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            fields = _access_fields(scope, request_id, status, started)
            fields["client_ip"] = client_ip(HTTPConnection(scope), self.trusted_proxy_count)
            log.info("request", extra=fields)


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            return text if _REQUEST_ID.match(text) else None
    return None


def _access_fields(scope: Scope, request_id: str, status: int, started: float) -> dict[str, Any]:
    return {
        "request_id": request_id,
        "method": scope.get("method"),
        "path": _loggable_path(scope.get("path") or ""),
        "status": status,
        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
    }


def _loggable_path(path: str) -> str:
    """Truncated before it reaches the formatter: a path is attacker-sized text, and every byte logged is
    scrubbed and shipped to CloudWatch."""
    return path if len(path) <= MAX_LOGGED_PATH else path[:MAX_LOGGED_PATH] + "…"
