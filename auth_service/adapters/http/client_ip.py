"""The client's address, trusting exactly as many proxies as configured (the ALB is one)."""

from __future__ import annotations

import ipaddress

from starlette.requests import HTTPConnection


def _valid_ip(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        return None


def client_ip(connection: HTTPConnection, trusted_proxy_count: int) -> str | None:
    """Each trusted proxy appends the address it saw; the entry `trusted_proxy_count` from the right is the
    client. Anything further left was written by the client and is ignored."""
    peer = connection.client.host if connection.client else None
    if trusted_proxy_count <= 0:
        return _valid_ip(peer) if peer else None
    hops = [hop for hop in ",".join(connection.headers.getlist("x-forwarded-for")).split(",") if hop.strip()]
    if len(hops) >= trusted_proxy_count:
        return _valid_ip(hops[-trusted_proxy_count])
    return _valid_ip(peer) if peer else None
