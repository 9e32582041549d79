import pytest

from tests.service.integration.helpers import assert_problem, query
from tests.support.app import STRONG_PASSWORD, Service, unique_email


async def test_register_returns_the_profile(service: Service) -> None:
    email = unique_email()
    response = await service.client.post(
        "/auth/register", json={"email": email, "password": STRONG_PASSWORD, "display_name": "  Ada Lovelace "}
    )
    assert response.status_code == 201
    body = response.json()
    assert body["email"] == email and body["display_name"] == "Ada Lovelace"
    assert set(body) == {"id", "email", "display_name", "bio", "avatar_url", "created_at", "updated_at", "device_token"}
    # The registering client is a known device: the token in the body, and the same in an HttpOnly cookie.
    assert len(body["device_token"]) >= 43  # 256 bits, base64url
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"aidlc_device={body['device_token']};")
    assert {"httponly", "samesite=strict", "path=/auth/login"} <= {a.strip().lower() for a in cookie.split(";")}
    assert "secure" not in {a.strip().lower() for a in cookie.split(";")}  # by design: plain HTTP (no TLS)
    devices = await query(service.settings, "SELECT token_hash FROM device_tokens WHERE user_id = :id", id=body["id"])
    assert len(devices) == 1 and body["device_token"].encode() not in bytes(devices[0].token_hash)
    rows = await query(service.settings, "SELECT password_hash FROM users WHERE id = :id", id=body["id"])
    assert rows[0].password_hash.startswith("$argon2id$") and STRONG_PASSWORD not in rows[0].password_hash
    audit = await query(
        service.settings, "SELECT event_type, details FROM audit_events WHERE user_id = :id", id=body["id"]
    )
    assert [(r.event_type, r.details) for r in audit] == [("registered", None)]


async def test_email_taken_is_409_case_insensitively_and_writes_nothing(service: Service) -> None:
    email = unique_email()
    await service.register(email)
    for variant in (email.upper(), f"  {email.capitalize()} "):
        response = await service.client.post(
            "/auth/register", json={"email": variant, "password": STRONG_PASSWORD, "display_name": "Twin"}
        )
        assert_problem(response, 409, "email_taken")
    rows = await query(service.settings, "SELECT count(*) AS n FROM users WHERE lower(email) = :e", e=email)
    assert rows[0].n == 1


@pytest.mark.parametrize(
    ("password", "fragment"),
    [
        ("short", "at least 8"),
        ("p" * 129, "at most 128"),
        ("qwertyuiop", "too common"),
        ("iloveyou", "too common"),
    ],
)
async def test_password_policy_is_422_and_writes_nothing(service: Service, password: str, fragment: str) -> None:
    email = unique_email()
    response = await service.client.post(
        "/auth/register", json={"email": email, "password": password, "display_name": "Weak"}
    )
    body = assert_problem(response, 422, "weak_password")
    assert fragment in body["detail"]
    assert (await query(service.settings, "SELECT count(*) AS n FROM users WHERE email = :e", e=email))[0].n == 0


async def test_password_containing_the_email_local_part_is_rejected(service: Service) -> None:
    response = await service.client.post(
        "/auth/register",
        json={"email": "margaret.hamilton@example.com", "password": "xx-Margaret.Hamilton-xx", "display_name": "M"},
    )
    assert_problem(response, 422, "weak_password")


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-email", "password": STRONG_PASSWORD, "display_name": "X"},
        {"email": "a@example.com", "password": STRONG_PASSWORD, "display_name": ""},
        {"email": "a@example.com", "password": STRONG_PASSWORD, "display_name": "x" * 65},
        {"email": "a@example.com", "password": STRONG_PASSWORD},
        {"email": "a@example.com", "password": STRONG_PASSWORD, "display_name": "X", "is_admin": True},
    ],
)
async def test_malformed_registrations_are_422_without_echoing_input(service: Service, body: dict[str, object]) -> None:
    response = await service.client.post("/auth/register", json=body)
    problem = assert_problem(response, 422, "validation_error")
    assert STRONG_PASSWORD not in response.text
    assert problem["errors"] and all("input" not in e for e in problem["errors"])


async def test_invalid_json_is_422(service: Service) -> None:
    response = await service.client.post(
        "/auth/register", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_problem(response, 422, "validation_error")


async def test_unicode_passwords_work_end_to_end(service: Service) -> None:
    password = "비밀번호는 충분히 길어요 🔐"
    user = await service.register(password=password)
    tokens = await service.login(user["email"], password)
    assert tokens["token_type"] == "bearer"
