import pytest

from auth_service.domain.errors import InvalidEmail, InvalidProfile, WeakPassword
from auth_service.domain.values import (
    Email,
    check_password_shape,
    clean_avatar_url,
    clean_bio,
    clean_display_name,
)

EMAIL = Email("Jane.Doe@Example.com")


def test_email_is_compared_case_insensitively_but_kept_as_entered() -> None:
    assert EMAIL.canonical == "jane.doe@example.com"
    assert EMAIL.value == "Jane.Doe@Example.com"
    assert Email("  a@b.co ").value == "a@b.co"


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [
        ("İnci@example.com", "i\u0307nci@example.com"),  # dotted capital I folds to i + dot above
        ("Jose\u0301@example.com", "jos\u00e9@example.com"),  # NFD and NFC are one address
        ("STRASSE@example.com", "strasse@example.com"),
        ("straße@example.com", "strasse@example.com"),  # full case folding, not lower()
        ("u@BÜCHER.example", "u@xn--bcher-kva.example"),  # IDNA A-labels, whatever form was typed
        ("u@xn--BCHER-kva.EXAMPLE", "u@xn--bcher-kva.example"),
        ("u@bu\u0308cher.example", "u@xn--bcher-kva.example"),
    ],
)
def test_one_canonical_form_per_identity(typed: str, canonical: str) -> None:
    assert Email(typed).canonical == canonical
    assert Email(canonical).canonical == canonical  # idempotent: stored values canonicalize to themselves


@pytest.mark.parametrize("raw", ["a@xn--invalid-.com", "a@exa\u2764mple.com", "a@xn--zz.com"])
def test_domains_that_are_not_idna2008_are_invalid(raw: str) -> None:
    with pytest.raises(InvalidEmail):
        Email(raw)


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "plain",
        "@example.com",
        "a@",
        "a@b",
        "a b@example.com",
        "a@exa mple.com",
        "a@-bad.com",
        "a@bad-.com",
        "a@b..com",
        "x" * 65 + "@example.com",
        "a@" + "b" * 250 + ".com",
        "a\x00@example.com",
    ],
)
def test_invalid_emails_are_rejected(raw: str) -> None:
    with pytest.raises(InvalidEmail):
        Email(raw)


@pytest.mark.parametrize(
    "password",
    [
        "8 chars!",  # minimum length, spaces allowed
        ("Tundra-Okapi-" * 10)[:128],  # maximum length (a repeated unit of 8+ characters is not "repetitive")
        "пароль-очень-длинный",  # any Unicode
        "🔐🦊🌵🎻🚲🧭🪁🍋",  # emoji count as one character each
        "alllowercase-no-rules",  # no composition rules
        "aaaa-Kettle-Moss",  # a short run inside a password is fine
        "Fennel-Quay-2345-Lark",  # so is a short sequence
        "qrst-Okapi-Zircon",
        "Jo-Quokka-Lantern",  # "jo" is below the 3 characters a context word needs
    ],
)
def test_password_policy_accepts(password: str) -> None:
    check_password_shape(password, EMAIL)


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short", "at least 8"),
        ("x" * 129, "at most 128"),
        ("my-jane.doe-password", "email"),
        ("JANE.DOE2024!", "email"),
        ("aaaaaaaa", "repeated or sequential"),
        ("abcdefgh", "repeated or sequential"),
        ("12345678", "repeated or sequential"),
        ("87654321", "repeated or sequential"),
        ("zyxwvuts", "repeated or sequential"),
        ("1234abcd", "repeated or sequential"),
        ("aaaabbbbcccc", "repeated or sequential"),
        ("abcabcabc", "repeated or sequential"),
        ("Ab1!Ab1!Ab1!", "repeated or sequential"),
        ("x" * 128, "repeated or sequential"),
        ("🔐" * 8, "repeated or sequential"),
        ("".join(chr(0xFF21 + i) for i in range(8)), "repeated or sequential"),  # full-width A-H: NFKC first
        ("Password1!", "word 'password'"),
        ("P4ssw0rd-Tundra", "word 'password'"),
        ("my-AIDLC-login-2026", "service's name"),
        ("Doe-Family-Tundra", "email"),  # a piece of the local part
        ("Tundra-Jane-Okapi", "email"),
        ("Example-Otter-Lark", "email"),  # a label of the email's domain
        ("D03-Family-Tundra", "email"),  # leetspeak undone
    ],
)
def test_password_policy_rejects(password: str, reason: str) -> None:
    with pytest.raises(WeakPassword, match=reason):
        check_password_shape(password, EMAIL)


def test_the_top_level_domain_is_not_a_context_word() -> None:
    check_password_shape("Comet-Tundra-Okapi", EMAIL)  # example.com: "com" is everyone's


def test_context_words_are_the_accounts_own_only() -> None:
    """The rule reads nothing but the password and this account's email: another person's address changes
    nothing, so a refusal can never tell whether some other account exists."""
    check_password_shape("Marta-Okapi-Lantern", Email("someone@elsewhere.org"))
    with pytest.raises(WeakPassword):
        check_password_shape("Marta-Okapi-Lantern", Email("marta@elsewhere.org"))


def test_password_is_never_truncated_or_case_folded_by_the_policy() -> None:
    # 129 characters must fail even though the first 128 would pass: no silent truncation.
    with pytest.raises(WeakPassword):
        check_password_shape("a" * 128 + "b", EMAIL)


def test_profile_fields_are_validated() -> None:
    assert clean_display_name("  Ada  ") == "Ada"
    assert clean_bio("  ") is None
    assert clean_avatar_url("https://cdn.example.com/a.png") == "https://cdn.example.com/a.png"
    assert clean_avatar_url("") is None
    for bad in ("", "   ", "x" * 65, "bell\x07"):
        with pytest.raises(InvalidProfile):
            clean_display_name(bad)
    with pytest.raises(InvalidProfile):
        clean_bio("b" * 501)
    for url in ("javascript:alert(1)", "ftp://example.com/a", "https://", "http://exa mple.com", "//x.com/a"):
        with pytest.raises(InvalidProfile):
            clean_avatar_url(url)
