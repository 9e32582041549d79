"""Request bodies above MAX_REQUEST_BODY_BYTES are refused with 413, whether announced or streamed."""

from collections.abc import AsyncIterator, MutableMapping
from typing import Any

from auth_service.settings import Settings
from tests.service.integration.helpers import assert_problem
from tests.support.app import STRONG_PASSWORD, Service, serving, unique_email, with_settings

LIMIT = 65536
CHUNK = 4096


async def _chunks(total: int, chunk: int = CHUNK, prefix: bytes = b"") -> AsyncIterator[bytes]:
    """A body without Content-Length (chunked transfer encoding): the server sees only the bytes as they come."""
    yield prefix
    sent = len(prefix)
    while sent < total:
        piece = b"a" * min(chunk, total - sent)
        sent += len(piece)
        yield piece


def _registration(padding: int) -> dict[str, Any]:
    return {"email": unique_email(), "password": STRONG_PASSWORD, "display_name": "x" * padding}


async def test_default_limit_is_64_kib() -> None:
    assert Settings.model_fields["max_request_body_bytes"].default == LIMIT


async def test_a_json_body_announced_too_large_is_413(service: Service) -> None:
    response = await service.client.post("/auth/register", json=_registration(LIMIT))
    body = assert_problem(response, 413, "payload_too_large")
    assert str(LIMIT) in body["detail"]


async def test_a_streamed_json_body_too_large_is_413(service: Service) -> None:
    response = await service.client.post(
        "/auth/register",
        content=_chunks(LIMIT * 4, prefix=b'{"email": "'),
        headers={"content-type": "application/json"},
    )
    assert "content-length" not in response.request.headers
    assert_problem(response, 413, "payload_too_large")


async def test_a_login_form_too_large_is_413_both_ways(service: Service) -> None:
    announced = await service.client.post(
        "/auth/login", data={"username": "a@example.com", "password": "p" * (LIMIT + 1)}
    )
    assert_problem(announced, 413, "payload_too_large")
    streamed = await service.client.post(
        "/auth/login",
        content=_chunks(LIMIT * 2, prefix=b"username=a%40example.com&password="),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert_problem(streamed, 413, "payload_too_large")


async def test_a_multipart_form_too_large_is_413(service: Service) -> None:
    response = await service.client.post(
        "/auth/login", files={"password": ("p.txt", b"p" * (LIMIT * 2))}, data={"username": "a@example.com"}
    )
    assert_problem(response, 413, "payload_too_large")


async def test_bodies_within_the_limit_are_served_as_before(service: Service) -> None:
    # Just under the limit, valid JSON that fails validation: the request reached the route.
    padded = _registration(LIMIT - 200)
    response = await service.client.post("/auth/register", json=padded)
    assert_problem(response, 422, "validation_error")
    streamed = await service.client.post(
        "/auth/login",
        content=_chunks(700, prefix=b"username=a%40example.com&password="),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert_problem(streamed, 401, "invalid_credentials")


async def test_the_limit_is_configurable(settings: Settings) -> None:
    async with serving(with_settings(settings, max_request_body_bytes=2048)) as svc:
        assert_problem(await svc.client.post("/auth/register", json=_registration(3000)), 413, "payload_too_large")
        assert_problem(await svc.client.post("/auth/register", json=_registration(500)), 422, "validation_error")


async def test_the_service_reads_at_most_the_limit_plus_one_chunk(service: Service) -> None:
    """Driven at the ASGI level with a 4 MiB body: the app must stop pulling once the limit is crossed."""
    pulled = 0
    total_chunks = 1024

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": b"a" * CHUNK, "more_body": pulled < total_chunks}

    sent: list[MutableMapping[str, Any]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/auth/register",
        "raw_path": b"/auth/register",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/json"),
            (b"transfer-encoding", b"chunked"),
        ],
        "client": ("203.0.113.7", 40000),
        "server": ("testserver", 80),
    }
    await service.app(scope, receive, send)
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 413
    assert pulled <= LIMIT // CHUNK + 1
