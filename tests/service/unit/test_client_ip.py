from starlette.requests import Request

from auth_service.adapters.http.client_ip import client_ip


def _request(peer: str, forwarded: list[str]) -> Request:
    headers = [(b"x-forwarded-for", value.encode()) for value in forwarded]
    return Request({"type": "http", "headers": headers, "client": (peer, 1234)})


def test_without_trusted_proxies_the_peer_is_the_client() -> None:
    assert client_ip(_request("198.51.100.1", ["6.6.6.6"]), 0) == "198.51.100.1"
    assert client_ip(_request("198.51.100.1", ["6.6.6.6", "7.7.7.7"]), 0) == "198.51.100.1"
    assert client_ip(_request("2001:db8::1", []), 0) == "2001:db8::1"


def test_behind_one_proxy_the_rightmost_entry_is_the_client() -> None:
    # The client forged "6.6.6.6"; the ALB appended the address it really saw.
    assert client_ip(_request("10.0.1.20", ["6.6.6.6, 203.0.113.9"]), 1) == "203.0.113.9"


def test_repeated_header_lines_are_one_list_in_order() -> None:
    """A client sending several lines cannot get its own entry read: the combined list ends with the ALB's."""
    assert client_ip(_request("10.0.1.20", ["6.6.6.6", "203.0.113.9"]), 1) == "203.0.113.9"
    assert client_ip(_request("10.0.1.20", ["6.6.6.6, 7.7.7.7", "8.8.8.8", "203.0.113.9"]), 1) == "203.0.113.9"
    assert client_ip(_request("10.0.0.1", ["6.6.6.6", "203.0.113.9, 10.0.0.5"]), 2) == "203.0.113.9"


def test_two_proxies_read_the_entry_the_outer_proxy_wrote() -> None:
    assert client_ip(_request("10.0.0.1", ["1.1.1.1, 203.0.113.9, 10.0.0.5"]), 2) == "203.0.113.9"


def test_garbage_in_the_trusted_position_never_makes_the_client_anonymous() -> None:
    # One proxy: a rightmost entry that is not an address was not written by the ALB (a direct request).
    assert client_ip(_request("10.0.0.1", ["not-an-ip"]), 1) == "10.0.0.1"
    # Two proxies configured, the client puts garbage (or nothing) where the outer proxy's entry belongs: the
    # walk stops at the last entry a trusted proxy wrote instead of returning no address (no per-IP limit).
    assert client_ip(_request("10.0.0.1", ["not-an-ip, 203.0.113.9"]), 2) == "203.0.113.9"
    assert client_ip(_request("10.0.0.1", [", 203.0.113.9"]), 2) == "203.0.113.9"
    assert client_ip(_request("10.0.0.1", ["203.0.113.9"]), 2) == "203.0.113.9"
    assert client_ip(_request("10.0.0.1", []), 1) == "10.0.0.1"


def test_a_longer_forged_chain_does_not_move_the_trusted_position() -> None:
    forged = ", ".join(f"6.6.6.{i}" for i in range(50))
    assert client_ip(_request("10.0.0.1", [forged + ", 203.0.113.9"]), 1) == "203.0.113.9"
    assert client_ip(_request("10.0.0.1", [forged + ", 203.0.113.9, 10.0.0.5"]), 2) == "203.0.113.9"


def test_entries_with_ports_are_addresses() -> None:
    assert client_ip(_request("10.0.0.1", ["203.0.113.9:51234"]), 1) == "203.0.113.9"
    assert client_ip(_request("10.0.0.1", ["[2001:db8::7]:443"]), 1) == "2001:db8::7"
    assert client_ip(_request("10.0.0.1", ["2001:db8::7"]), 1) == "2001:db8::7"
