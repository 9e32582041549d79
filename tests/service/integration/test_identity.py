"""One identity per person: whatever Unicode form or case an address or password is typed in, it names
the same account, and registration, login and uniqueness agree on it."""

import unicodedata
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from auth_service.adapters.security.hashing import Argon2PasswordHasher
from tests.service.integration.helpers import assert_problem, query
from tests.support.app import STRONG_PASSWORD, Service

NFC_PASSWORD = "Crème-Brûlée-Tundra-42"


def _nfd(value: str) -> str:
    return unicodedata.normalize("NFD", value)


def _tag() -> str:
    return uuid.uuid4().hex[:8]


async def _login_status(service: Service, email: str, password: str = STRONG_PASSWORD) -> int:
    response = await service.client.post("/auth/login", json={"email": email, "password": password})
    return response.status_code


async def test_dotted_capital_i_registers_and_logs_in(service: Service) -> None:
    email = f"İnci.{_tag()}@example.com"
    await service.register(email)
    assert await _login_status(service, email) == 200
    assert await _login_status(service, email.upper()) == 200  # İNCI.…: İ is its own upper case


async def test_non_ascii_case_variants_are_one_account(service: Service) -> None:
    email = f"Ünal.Çelik.{_tag()}@Example.com"
    await service.register(email)
    assert await _login_status(service, email.lower()) == 200
    assert await _login_status(service, email.upper()) == 200
    response = await service.client.post(
        "/auth/register", json={"email": email.lower(), "password": STRONG_PASSWORD, "display_name": "Twin"}
    )
    assert_problem(response, 409, "email_taken")


async def test_nfd_and_nfc_addresses_are_one_account(service: Service) -> None:
    email = f"josé.{_tag()}@example.com"
    await service.register(email)
    assert await _login_status(service, _nfd(email)) == 200
    response = await service.client.post(
        "/auth/register", json={"email": _nfd(email), "password": STRONG_PASSWORD, "display_name": "Twin"}
    )
    assert_problem(response, 409, "email_taken")


@pytest.mark.parametrize(
    ("registered", "typed"),
    [
        ("user-{tag}@bücher.example", "user-{tag}@xn--bcher-kva.example"),
        ("user-{tag}@xn--bcher-kva.example", "user-{tag}@BÜCHER.example"),
    ],
)
async def test_punycode_and_unicode_domains_are_one_account(service: Service, registered: str, typed: str) -> None:
    tag = _tag()
    await service.register(registered.format(tag=tag))
    assert await _login_status(service, typed.format(tag=tag)) == 200
    response = await service.client.post(
        "/auth/register", json={"email": typed.format(tag=tag), "password": STRONG_PASSWORD, "display_name": "Twin"}
    )
    assert_problem(response, 409, "email_taken")


async def test_the_profile_shows_the_address_as_registered(service: Service) -> None:
    tag = _tag()
    user = await service.register(f"Ünal.{tag}@Example.com")
    assert user["email"] == f"Ünal.{tag}@example.com"  # the local part as typed, the domain lower-cased


async def test_a_password_typed_in_nfd_matches_the_nfc_one(service: Service) -> None:
    user = await service.register(password=NFC_PASSWORD)
    assert await _login_status(service, user["email"], _nfd(NFC_PASSWORD)) == 200
    assert await _login_status(service, user["email"], NFC_PASSWORD) == 200
    other = await service.register(password=_nfd(NFC_PASSWORD))
    assert await _login_status(service, other["email"], NFC_PASSWORD) == 200


async def test_compatibility_forms_of_a_password_match_nfkc(service: Service) -> None:
    """NFKC (NIST SP 800-63B): full-width letters from an IME are the same password as their ASCII forms."""
    full_width = "".join(chr(ord(ch) + 0xFEE0) if ch.isalpha() else ch for ch in "Gorilla-Marmalade-42")
    user = await service.register(password=full_width)
    assert await _login_status(service, user["email"], "Gorilla-Marmalade-42") == 200


async def test_a_hash_of_the_unnormalized_password_is_accepted_once_and_upgraded(service: Service) -> None:
    """Accounts created before normalization hold a hash of the password exactly as typed (here NFD)."""
    user = await service.register()
    typed = _nfd(NFC_PASSWORD)
    legacy = Argon2PasswordHasher(concurrency=1)
    legacy_hash = await legacy.hash(typed)
    engine = create_async_engine(service.settings.sqlalchemy_url())
    async with engine.begin() as connection:
        await connection.execute(
            text("UPDATE users SET password_hash = :h WHERE id = :id"), {"h": legacy_hash, "id": user["id"]}
        )
    await engine.dispose()

    assert await _login_status(service, user["email"], typed) == 200
    (row,) = await query(service.settings, "SELECT password_hash FROM users WHERE id = :id", id=user["id"])
    assert row.password_hash != legacy_hash
    assert (await legacy.verify(unicodedata.normalize("NFKC", typed), row.password_hash))[0]
    assert await _login_status(service, user["email"], NFC_PASSWORD) == 200
    legacy.close()


async def test_every_lookup_uses_the_canonical_column(service: Service) -> None:
    tag = _tag()
    user = await service.register(f"İnci.{tag}@BÜCHER.example")
    (row,) = await query(service.settings, "SELECT email, email_canonical FROM users WHERE id = :id", id=user["id"])
    assert row.email_canonical == f"i\u0307nci.{tag}@xn--bcher-kva.example"
