"""Value objects: they validate on construction, so an instance is always valid."""

from __future__ import annotations

import itertools
import unicodedata
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import idna

from auth_service.domain.errors import InvalidEmail, InvalidProfile, WeakPassword

_EMAIL_MAX = 254
_LOCAL_MAX = 64
_LABEL_MAX = 63


def _is_domain_label(label: str) -> bool:
    return 0 < len(label) <= _LABEL_MAX and not label.startswith("-") and not label.endswith("-")


def _fold(text: str) -> str:
    """Unicode caseless matching: NFC, full case folding, NFC again (folding can leave a decomposed sequence,
    e.g. the dotted capital I folds to i + combining dot above)."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", text).casefold())


def _ascii_domain(domain: str) -> str:
    """The domain as lower-case A-labels (punycode), IDNA2008 with the UTS #46 mapping that browsers and
    email-validator apply: `BÜCHER.example`, `bücher.example` and `xn--bcher-kva.example` are one domain."""
    try:
        return idna.encode(domain, uts46=True, transitional=False).decode("ascii")
    except (idna.IDNAError, UnicodeError) as exc:
        raise InvalidEmail("Enter a valid email address.") from exc


@dataclass(frozen=True, slots=True)
class Email:
    """An email address: `value` as the person typed it (shown back to them), `canonical` the identity.

    `canonical` is the one place that decides when two addresses are the same account: the local part folded
    with Unicode caseless matching, the domain in IDNA A-label form. The database's unique index and every
    lookup use it, so registration, login and the rate limiter can never disagree.
    """

    value: str
    canonical: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        value = self.value.strip()
        object.__setattr__(self, "value", value)
        local, at, domain = value.rpartition("@")
        if not at or not local or not domain or len(value) > _EMAIL_MAX or len(local) > _LOCAL_MAX:
            raise InvalidEmail("Enter a valid email address.")
        if any(ch.isspace() or unicodedata.category(ch).startswith("C") for ch in value):
            raise InvalidEmail("Enter a valid email address.")
        ascii_domain = _ascii_domain(domain)
        labels = ascii_domain.split(".")
        if "@" in local or len(labels) < 2 or not all(_is_domain_label(label) for label in labels):
            raise InvalidEmail("Enter a valid email address.")
        object.__setattr__(self, "canonical", f"{_fold(local)}@{ascii_domain}")

    @property
    def local_part(self) -> str:
        return self.value.rpartition("@")[0]

    def __str__(self) -> str:
        return self.value


PASSWORD_MIN_LENGTH = 8
PASSWORD_MAX_LENGTH = 128
# NIST SP 800-63B 3.1.1.2: refuse repetitive or sequential characters and context-specific words (the service's
# name, the username and its derivatives). The rule sees only the password and the person's own email, so its
# answer tells nothing about any other account.
_CONTEXT_WORD_MIN = 3  # shorter pieces ("jo", "co") are too common to refuse in every password
SERVICE_WORDS = ("aidlc", "password")  # the service's name, and the word the form asks for
_SEQUENCE_STEPS = (-1, 0, 1)  # "4321", "aaaa", "abcd": each character the previous one's neighbour (or itself)
_MEAN_RUN_REFUSED = 4  # made of such runs averaging 4+ characters ("aaaabbbb", "1234abcd"): refused
_UNLEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"})


def _unleet(text: str) -> str:
    return text.translate(_UNLEET)


def _is_repetitive(text: str) -> bool:
    """One unit said again and again ("abcabcabc"), when the unit alone would be too short to be a password."""
    return any(
        len(text) % size == 0 and text == text[:size] * (len(text) // size)
        for size in range(1, min(PASSWORD_MIN_LENGTH, len(text) // 2 + 1))
    )


def _is_sequential(text: str) -> bool:
    """Made of runs whose characters step through code points by -1, 0 or +1, averaging 4+ characters a run."""
    runs, step = 1, None
    for previous, current in itertools.pairwise(text):
        difference = ord(current) - ord(previous)
        if difference in _SEQUENCE_STEPS and step in (None, difference):
            step = difference
        else:
            runs, step = runs + 1, None
    return len(text) >= _MEAN_RUN_REFUSED * runs


def _context_words(email: Email) -> set[str]:
    """The service's name, the email's local part and its pieces (`jane.doe+x` -> jane, doe, x), and the labels
    of its domain but the top-level one (`mail.example.com` -> mail, example); each also with leetspeak undone."""
    local = _fold(email.local_part)
    labels = _fold(email.value.rpartition("@")[2]).split(".")[:-1]
    pieces = {local, *"".join(ch if ch.isalnum() else " " for ch in local).split(), *labels, *SERVICE_WORDS}
    words = {word for word in pieces if len(word) >= _CONTEXT_WORD_MIN}
    return words | {_unleet(word) for word in words}


def normalize_password(password: str) -> str:
    """NIST SP 800-63B: Unicode passwords are normalized with NFKC before hashing and comparing, so the same
    password typed on another keyboard, input method or OS (composed or decomposed accents, full-width
    letters) is the same secret. NFKC rather than NFC because that is what SP 800-63B names (NFKC or NFKD);
    it only merges characters that look alike, and the length policy counts the normalized form."""
    return unicodedata.normalize("NFKC", password)


def check_password_shape(password: str, email: Email) -> None:
    """OWASP ASVS 2.1: length 8-128 code points, any Unicode, no composition rules, no truncation.

    The common-password check needs a word list and lives behind the CommonPasswords port.
    """
    normalized = normalize_password(password)
    length = len(normalized)
    if length < PASSWORD_MIN_LENGTH:
        raise WeakPassword(f"Use at least {PASSWORD_MIN_LENGTH} characters.")
    if length > PASSWORD_MAX_LENGTH:
        raise WeakPassword(f"Use at most {PASSWORD_MAX_LENGTH} characters.")
    folded = _fold(normalized)
    if _is_repetitive(folded) or _is_sequential(folded):
        raise WeakPassword("The password must not be repeated or sequential characters (aaaa, abcd, 4321).")
    if any(word in folded or word in _unleet(folded) for word in _context_words(email)):
        raise WeakPassword(
            "The password must not contain your email address or a part of it, the service's name or the word"
            " 'password'."
        )


DISPLAY_NAME_MAX = 64
BIO_MAX = 500
AVATAR_URL_MAX = 2048


# Text people show to each other (display name, bio, avatar URL) refuses two Unicode categories:
# - Cc, control characters (a bio keeps tab and line breaks);
# - Cf, format characters: invisible or reordering, so one string can look like another (`Admin\u202egnp.exe`
#   shows as "Adminexe.png"): zero-width space and joiners, bidi embeddings, overrides and isolates, the BOM,
#   the soft hyphen, tag characters, Arabic and other number signs. Emoji written with a zero-width joiner
#   (family, profession sequences) and tag-character flags are refused with them; their parts are accepted.
# Deliberately accepted: private-use characters (visible glyphs of icon fonts), code points unassigned in this
# Python's Unicode database (emoji newer than it), and the text as typed, without normalization (NFC changes
# lengths, NFKC rewrites visible characters; the identity is the email, never the display name). Lone
# surrogates never arrive: the JSON parser refuses them.
_REFUSED_IN_TEXT = frozenset({"Cc", "Cf"})


def has_control_or_format_characters(text: str, allow_newlines: bool = False) -> bool:
    allowed = {"\n", "\r", "\t"} if allow_newlines else set()
    return any(unicodedata.category(ch) in _REFUSED_IN_TEXT and ch not in allowed for ch in text)


def clean_display_name(raw: str) -> str:
    name = raw.strip()
    if not name or len(name) > DISPLAY_NAME_MAX or has_control_or_format_characters(name):
        raise InvalidProfile(
            f"Display name must be 1-{DISPLAY_NAME_MAX} characters without control or invisible format characters."
        )
    return name


def clean_bio(raw: str | None) -> str | None:
    if raw is None:
        return None
    bio = raw.strip()
    if len(bio) > BIO_MAX or has_control_or_format_characters(bio, allow_newlines=True):
        raise InvalidProfile(
            f"Bio must be at most {BIO_MAX} characters without control (except line breaks) or invisible format"
            " characters."
        )
    return bio or None


def clean_avatar_url(raw: str | None) -> str | None:
    if raw is None or not raw.strip():
        return None
    url = raw.strip()
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise InvalidProfile("Avatar URL must be an http(s) URL.") from exc
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or len(url) > AVATAR_URL_MAX
        or has_control_or_format_characters(url)
        or any(ch.isspace() for ch in url)
    ):
        raise InvalidProfile(f"Avatar URL must be an http(s) URL of at most {AVATAR_URL_MAX} characters.")
    return url
