"""Requests driven straight into an ASGI app, for tests that need to control what the client sends and when."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def http_scope(
    method: str, path: str, body: bytes, content_type: bytes, headers: Mapping[str, str] = {}
) -> dict[str, Any]:
    """The scope of one HTTP/1.1 request from a fixed client address, with the body's type and length declared."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", content_type),
            (b"content-length", str(len(body)).encode()),
            *((name.lower().encode(), value.encode()) for name, value in headers.items()),
        ],
        "client": ("203.0.113.7", 40001),
        "server": ("testserver", 80),
        "state": {},
    }
