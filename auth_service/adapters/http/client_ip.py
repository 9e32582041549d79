"""The client's address, trusting exactly as many proxies as configured (the ALB is one).

The ALB (default `append` mode) adds the address it saw to the end of `X-Forwarded-For`, creating the header if
the client sent none; whatever the client wrote itself stays to the left. Repeated header lines are one list in
order (RFC 9110 section 5.3), so a client cannot hide entries by splitting them across lines.
"""

from __future__ import annotations

import ipaddress

from starlette.requests import HTTPConnection


def _address(entry: str) -> str | None:
    """An IP address, also from the `ip:port` and `[ipv6]:port` forms some proxies write; None otherwise."""
    text = entry.strip()
    if text.startswith("[") and "]" in text:
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def forwarded_chain(connection: HTTPConnection) -> list[str]:
    """Every X-Forwarded-For line combined into one list, in order, empty entries kept in their place."""
    return [entry for line in connection.headers.getlist("x-forwarded-for") for entry in line.split(",")]


def client_ip(connection: HTTPConnection, trusted_proxy_count: int) -> str | None:
    """Walk the chain from the right over at most `trusted_proxy_count` entries, each written by a trusted
    proxy about the hop before it. The last valid one is the client. An invalid or missing entry ends the walk
    early: the entries further left were not written by a proxy we trust, so a client cannot use garbage or a
    short chain to push its own text into the trusted position or to become anonymous."""
    peer = _address(connection.client.host) if connection.client else None
    if trusted_proxy_count <= 0:
        return peer
    client = peer
    for entry in reversed(forwarded_chain(connection)[-trusted_proxy_count:]):
        address = _address(entry)
        if address is None:
            break
        client = address
    return client
