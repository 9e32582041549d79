from starlette.requests import Request

from auth_service.adapters.http.client_ip import client_ip


def _request(peer: str, forwarded: list[str]) -> Request:
    headers = [(b"x-forwarded-for", value.encode()) for value in forwarded]
    return Request({"type": "http", "headers": headers, "client": (peer, 1234)})


def test_without_trusted_proxies_the_peer_is_the_client() -> None:
    assert client_ip(_request("198.51.100.1", ["6.6.6.6"]), 0) == "198.51.100.1"


def test_behind_one_proxy_the_rightmost_hop_is_the_client() -> None:
    # The client forged "6.6.6.6"; the ALB appended the address it really saw.
    assert client_ip(_request("10.0.1.20", ["6.6.6.6, 203.0.113.9"]), 1) == "203.0.113.9"
    assert client_ip(_request("10.0.1.20", ["6.6.6.6", "203.0.113.9"]), 1) == "203.0.113.9"


def test_two_proxies_and_garbage() -> None:
    assert client_ip(_request("10.0.0.1", ["1.1.1.1, 203.0.113.9, 10.0.0.5"]), 2) == "203.0.113.9"
    assert client_ip(_request("10.0.0.1", ["not-an-ip"]), 1) is None
    assert client_ip(_request("10.0.0.1", []), 1) == "10.0.0.1"
    assert client_ip(_request("2001:db8::1", []), 0) == "2001:db8::1"
