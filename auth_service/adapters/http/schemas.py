"""Request and response bodies of the HTTP API.

Every rule the service enforces on a field is declared here, so `/openapi.json` promises exactly what the service
accepts. Lengths count Unicode code points, as JSON Schema's `minLength`/`maxLength` and Python's `len` both do.
Where the domain measures a value after trimming or NFC normalization, the declared bound applies to the value as
sent *and* the field's description says what else is checked; rules JSON Schema cannot express (common passwords,
the email's local part inside the password) are described in words.

The one known edge is Unicode normalization: passwords are measured after NFC. Decomposed input (a letter followed
by a combining accent) is shorter once composed, so a password of 8+ code points as sent may be refused as too
short; and NFC lengthens a few rare characters (U+0344 becomes two code points), so a value at a declared maximum
made of those can be refused although the schema admits it. Clients that normalize to NFC first never meet either.
"""

from __future__ import annotations

import base64
import re
import struct
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, EmailStr, Field, JsonValue, WithJsonSchema

from auth_service.application.ports import SessionPosition
from auth_service.domain.values import (
    AVATAR_URL_MAX,
    BIO_MAX,
    DISPLAY_NAME_MAX,
    PASSWORD_MAX_LENGTH,
    PASSWORD_MIN_LENGTH,
)

# Character classes spelled out code point by code point, so the ECMA-262 pattern in the document, pydantic's
# Rust regex and Python's `re` agree: WHITESPACE is exactly what `str.isspace()`/`str.strip()` treat as space,
# CONTROL is Unicode categories Cc and Cf (the domain's rule: `has_control_or_format_characters`), BIO_FORBIDDEN
# the same except tab, line feed and carriage return. FORMAT lists Cf's code points in the Basic Multilingual
# Plane; the few above it (tag characters U+E0001 and U+E0020-E007F, U+110BD, U+110CD, U+13430-13438,
# U+1BCA0-1BCA3, U+1D173-1D17A) cannot be written in a pattern that ECMA-262 and Python read alike, so the field
# descriptions name them. tests/service/unit/test_values.py checks FORMAT against Python's Unicode database.
_WHITESPACE = r"\u0009-\u000d\u001c-\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
FORMAT = (
    r"\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064"
    r"\u2066-\u206f\ufeff\ufff9-\ufffb"
)
_CONTROL = r"\u0000-\u001f\u007f-\u009f" + FORMAT
_BIO_FORBIDDEN = r"\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f" + FORMAT
_NO_FORMAT_CHARACTERS = (
    "No control characters and no invisible format characters (Unicode category Cf: zero-width spaces and joiners,"
    " bidi embeddings, overrides and isolates, the byte order mark, the soft hyphen, tag characters), so no text can"
    " pass for another; emoji sequences joined by U+200D are refused with them."
)

# Surrounding whitespace is trimmed; what remains has at least one visible character and no control character.
DISPLAY_NAME_PATTERN = rf"^[{_WHITESPACE}]*[^{_CONTROL}]*[^{_CONTROL}{_WHITESPACE}][^{_CONTROL}]*[{_WHITESPACE}]*$"
BIO_PATTERN = rf"^[{_WHITESPACE}]*[^{_BIO_FORBIDDEN}]*[{_WHITESPACE}]*$"
# An http(s) URL with an ASCII host name (IDNs in punycode), optional userinfo and port, no whitespace or
# control characters; empty or whitespace-only clears the avatar. Every URL this pattern admits passes the
# domain's own check (`urlsplit`, scheme, host name); the host is ASCII-only and bracketed IPv6 literals are
# refused so that Python's `urlsplit` can never raise on what the schema allows.
_USERINFO = r"[A-Za-z0-9._~%!$&'()*+,;=:-]*@"
_HOST = r"[A-Za-z0-9._~%!$&'()*+,;=-]+"
AVATAR_URL_PATTERN = (
    rf"^[{_WHITESPACE}]*([Hh][Tt][Tt][Pp][Ss]?://({_USERINFO})?{_HOST}(:[0-9]*)?([/?#][^{_CONTROL}{_WHITESPACE}]*)?)?"
    rf"[{_WHITESPACE}]*$"
)
AVATAR_URL_REGEX = re.compile(AVATAR_URL_PATTERN)

# email-validator refuses addresses under the special-use domain names (RFC 6761), any letter case.
_SPECIAL_USE_DOMAINS = ("arpa", "invalid", "local", "localhost", "onion", "test")
EMAIL_PATTERN = (
    r"^(?![\s\S]*@([^@]*\.)?("
    + "|".join("".join(f"[{ch.upper()}{ch}]" for ch in name) for name in _SPECIAL_USE_DOMAINS)
    + r")$)"
)

_PASSWORD_RULES = (
    f"{PASSWORD_MIN_LENGTH}-{PASSWORD_MAX_LENGTH} Unicode code points, any characters, no composition rules. "
    "Counted after NFC normalization, so text sent decomposed (a letter followed by a combining accent) counts "
    "as composed: normalize to NFC before checking the length on the client. Also refused with 422 "
    "`weak_password`, rules JSON Schema cannot express: one of the 30,000 "
    "most common passwords; repeated or sequential characters (NIST SP 800-63B): a short unit said again and again "
    "(`abcabcabc`), or runs of a character and its neighbours (`aaaaaaaa`, `abcdefgh`, `1234abcd`, `87654321`) "
    "averaging 4 or more characters; a password that contains, case-insensitively and with leetspeak undone "
    "(`p4ssw0rd`), a context-specific word of 3+ characters: the account's email local part or a piece of it "
    "(split at punctuation), a label of its domain other than the top-level one, the service's name `aidlc`, or "
    "the word `password`."
)
# The domain measures the length (after NFC) and answers `weak_password` with a precise message, so the model only
# holds a generous transport bound and the document declares the policy's bounds.
NEW_PASSWORD_FIELD: Any = Field(
    min_length=1,
    max_length=1024,
    description=_PASSWORD_RULES,
    json_schema_extra={"minLength": PASSWORD_MIN_LENGTH, "maxLength": PASSWORD_MAX_LENGTH},
)
# A password being checked, never stored: any length a stored password could have had is accepted, and a wrong
# one is answered like any other wrong password (401), so the check says nothing about the policy.
PRESENTED_PASSWORD_FIELD: Any = Field(
    min_length=1, max_length=1024, description="The account's current password (1-1024 code points)."
)
LOGIN_EMAIL_MAX = 320


class StrictBody(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _example(fields: dict[str, JsonValue]) -> ConfigDict:
    """A request body that is valid and, where it can be, accepted: the first thing the examples phase sends."""
    return ConfigDict(extra="forbid", json_schema_extra={"examples": [fields]})


EXAMPLE_EMAIL = "ada.lovelace@example.com"
EXAMPLE_PASSWORD = "Analytical-Engine-1843"


class RegisterRequest(StrictBody):
    model_config = _example({"email": EXAMPLE_EMAIL, "password": EXAMPLE_PASSWORD, "display_name": "Ada Lovelace"})

    email: EmailStr = Field(
        max_length=254,
        json_schema_extra={"pattern": EMAIL_PATTERN},
        description="Unique, case-insensitive, at most 254 characters. Must be deliverable on the public internet: "
        "a domain with a period whose top-level domain ends in a letter, not under a special-use name "
        f"({', '.join(f'.{name}' for name in _SPECIAL_USE_DOMAINS)}); no quoted local part, no IP "
        "literal.",
    )
    password: str = NEW_PASSWORD_FIELD
    display_name: str = Field(
        min_length=1,
        max_length=DISPLAY_NAME_MAX,
        json_schema_extra={"pattern": DISPLAY_NAME_PATTERN},
        description=f"1-{DISPLAY_NAME_MAX} characters after trimming surrounding whitespace. {_NO_FORMAT_CHARACTERS}",
    )


DEVICE_COOKIE = "aidlc_device"
DEVICE_TOKEN_DESCRIPTION = (
    "The device token this client received at its last login or registration on this account (also sent as the "
    f"`{DEVICE_COOKIE}` cookie, which browsers send by themselves). A valid one puts the guess in this device's own "
    "budget of wrong passwords, so strangers guessing the password elsewhere cannot lock this device out; an "
    "unknown, expired or other account's token is ignored (the guess counts as an unknown device's)."
)


class LoginRequest(StrictBody):
    model_config = _example({"email": EXAMPLE_EMAIL, "password": EXAMPLE_PASSWORD})

    email: str = Field(
        min_length=1,
        max_length=LOGIN_EMAIL_MAX,
        description="The account's email. Not validated as an address: an unparseable one gets the same 401 as "
        "a wrong password.",
    )
    password: str = PRESENTED_PASSWORD_FIELD
    device_token: str | None = Field(default=None, max_length=512, description=DEVICE_TOKEN_DESCRIPTION)


class RefreshRequest(StrictBody):
    model_config = _example({"refresh_token": "mF0rq3sVb6yXhI1tS8p2ZkG4nJ7wQe9cLdU5aTo0RrY"})

    refresh_token: str = Field(
        min_length=1, max_length=512, description="The refresh token from the last login or refresh; single use."
    )


class TokenResponse(BaseModel):
    access_token: str = Field(description="JWT (`typ: at+jwt`), verify it with `/.well-known/jwks.json`.")
    refresh_token: str = Field(description="Opaque, single use: each refresh returns a new one.")
    token_type: str = Field(default="bearer", json_schema_extra={"enum": ["bearer"]})
    expires_in: int = Field(description="Seconds until the access token expires.")


class LoginResponse(TokenResponse):
    device_token: str | None = Field(
        description="Opaque; keep it and send it with later logins (`device_token`, or the cookie set with this "
        "response): this client is now a known device of the account. The same value when a valid one was sent; "
        "null (and no cookie) only if PostgreSQL became unreachable right after the login."
    )


class ProfileResponse(BaseModel):
    id: UUID
    email: str
    display_name: str
    bio: str | None
    avatar_url: str | None
    created_at: datetime
    updated_at: datetime


_DISPLAY_NAME_UPDATE = {
    "type": "string",
    "minLength": 1,
    "maxLength": DISPLAY_NAME_MAX,
    "pattern": DISPLAY_NAME_PATTERN,
    "description": f"1-{DISPLAY_NAME_MAX} characters after trimming surrounding whitespace. {_NO_FORMAT_CHARACTERS} "
    "Cannot be cleared (null is refused).",
}
_BIO_UPDATE = {
    "anyOf": [{"type": "string", "maxLength": BIO_MAX, "pattern": BIO_PATTERN}, {"type": "null"}],
    "description": f"At most {BIO_MAX} characters; tab and line breaks allowed. {_NO_FORMAT_CHARACTERS} "
    "Empty or null clears it.",
}
_AVATAR_URL_UPDATE = {
    "anyOf": [{"type": "string", "maxLength": AVATAR_URL_MAX, "pattern": AVATAR_URL_PATTERN}, {"type": "null"}],
    "description": f"An http or https URL of at most {AVATAR_URL_MAX} characters with an ASCII host name "
    "(international names in punycode, no IP-literal in brackets). Empty or null clears it.",
}


class RegistrationResponse(ProfileResponse):
    device_token: str = Field(
        description="Opaque: the registering client is a known device of the new account. Send it with logins "
        "(`device_token`, or the cookie set with this response)."
    )


class ProfileUpdateRequest(StrictBody):
    """Only the fields sent change; null clears bio and avatar_url (display_name cannot be cleared)."""

    model_config = _example(
        {"display_name": "Ada", "bio": "Wrote the first program.", "avatar_url": "https://cdn.example.com/ada.png"}
    )

    # Declared as a plain string: a null display name is refused by the domain with `invalid_profile`.
    display_name: Annotated[str | None, WithJsonSchema(_DISPLAY_NAME_UPDATE)] = Field(
        default=None, min_length=1, max_length=DISPLAY_NAME_MAX
    )
    bio: Annotated[str | None, WithJsonSchema(_BIO_UPDATE)] = Field(default=None, max_length=BIO_MAX)
    avatar_url: Annotated[str | None, WithJsonSchema(_AVATAR_URL_UPDATE)] = Field(
        default=None, max_length=AVATAR_URL_MAX
    )


class PasswordChangeRequest(StrictBody):
    model_config = _example({"current_password": EXAMPLE_PASSWORD, "new_password": "Difference-Engine-1822"})

    current_password: str = PRESENTED_PASSWORD_FIELD
    new_password: str = NEW_PASSWORD_FIELD


class AccountDeletionRequest(StrictBody):
    model_config = _example({"password": EXAMPLE_PASSWORD})

    password: str = PRESENTED_PASSWORD_FIELD


class SessionResponse(BaseModel):
    id: UUID
    created_at: datetime
    last_used_at: datetime
    user_agent: str | None
    ip: str | None
    current: bool


# The session list's pages. A cursor is base64url(8-byte signed microseconds since the epoch | 16-byte session id),
# the position of the last session of a page: every string of this pattern is some position, so any cursor the
# document admits is accepted (an arbitrary one just starts somewhere in the caller's own list).
SESSION_PAGE_DEFAULT = 50
SESSION_PAGE_MAX = 100
SESSION_CURSOR_PATTERN = "^[A-Za-z0-9_-]{32}$"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CURSOR_LAYOUT = struct.Struct(">q16s")


def encode_session_cursor(position: SessionPosition) -> str:
    micros = (position.created_at - _EPOCH) // timedelta(microseconds=1)
    return base64.urlsafe_b64encode(_CURSOR_LAYOUT.pack(micros, position.session_id.bytes)).decode()


def decode_session_cursor(cursor: str) -> SessionPosition:
    """Only for strings of SESSION_CURSOR_PATTERN (the route checks it): 32 characters are exactly 24 bytes."""
    micros, session_bytes = _CURSOR_LAYOUT.unpack(base64.urlsafe_b64decode(cursor))
    lowest, highest = datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)
    bound = min(
        max(micros, (lowest - _EPOCH) // timedelta(microseconds=1)), (highest - _EPOCH) // timedelta(microseconds=1)
    )
    return SessionPosition(_EPOCH + timedelta(microseconds=bound), UUID(bytes=session_bytes))


class HealthResponse(BaseModel):
    status: str
    checks: dict[str, str] = {}
