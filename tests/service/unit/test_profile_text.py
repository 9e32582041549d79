"""Display names and bios refuse Unicode format characters (category Cf): one rule in the domain, and the
OpenAPI patterns list the same code points."""

from __future__ import annotations

import re
import sys
import unicodedata

import pytest

from auth_service.adapters.http.schemas import BIO_PATTERN, DISPLAY_NAME_PATTERN, FORMAT
from auth_service.domain.errors import InvalidProfile
from auth_service.domain.values import clean_avatar_url, clean_bio, clean_display_name

FORMAT_CHARACTERS = {
    "zero-width space": "\u200b",
    "zero-width non-joiner": "\u200c",
    "zero-width joiner": "\u200d",
    "left-to-right mark": "\u200e",
    "right-to-left mark": "\u200f",
    "arabic letter mark": "\u061c",
    "left-to-right embedding": "\u202a",
    "right-to-left embedding": "\u202b",
    "pop directional formatting": "\u202c",
    "left-to-right override": "\u202d",
    "right-to-left override": "\u202e",
    "left-to-right isolate": "\u2066",
    "right-to-left isolate": "\u2067",
    "first strong isolate": "\u2068",
    "pop directional isolate": "\u2069",
    "word joiner": "\u2060",
    "invisible times": "\u2062",
    "byte order mark": "\ufeff",
    "soft hyphen": "\u00ad",
    "mongolian vowel separator": "\u180e",
    "arabic number sign": "\u0600",
    "interlinear annotation anchor": "\ufff9",
    "tag character (language tag)": "\U000e0001",
    "tag character (tag latin small letter a)": "\U000e0061",
    "cancel tag": "\U000e007f",
    "musical symbol begin beam": "\U0001d173",
    "shorthand format letter overlap": "\U0001bca0",
}


@pytest.mark.parametrize("character", FORMAT_CHARACTERS.values(), ids=FORMAT_CHARACTERS.keys())
def test_format_characters_are_refused_in_display_names_bios_and_avatar_urls(character: str) -> None:
    assert unicodedata.category(character) == "Cf"
    with pytest.raises(InvalidProfile, match="invisible format characters"):
        clean_display_name(f"Admin{character}gnp.exe")
    with pytest.raises(InvalidProfile, match="invisible format characters"):
        clean_bio(f"Line one\nline{character} two")
    with pytest.raises(InvalidProfile):
        clean_avatar_url(f"https://cdn.example.com/a{character}.png")


def test_a_name_of_format_characters_only_is_refused_not_trimmed_to_something() -> None:
    with pytest.raises(InvalidProfile):
        clean_display_name("\u200b\u200b\u200b")


@pytest.mark.parametrize(
    "text",
    [
        "Zoë Ångström",  # precomposed
        "Zoe\u0308",  # combining diaeresis (Mn): a mark, not a format character, kept as typed
        "محمد",  # right-to-left script without any bidi control
        "李小龍",
        "Ada 👩\U0001f3fd",  # emoji with a skin-tone modifier
        "Ada \u2764\ufe0f",  # variation selector (Mn)
        "Ada \ue000",  # private use: a visible glyph in the font that defines it
        "\ufb01ne",  # the fi ligature stays as typed (no NFKC)
    ],
)
def test_visible_text_in_any_script_is_accepted_as_typed(text: str) -> None:
    assert clean_display_name(text) == text
    assert clean_bio(text) == text


def test_the_bio_keeps_line_breaks_and_tabs() -> None:
    assert clean_bio("one\n\ttwo\r\nthree") == "one\n\ttwo\r\nthree"


def test_the_openapi_format_class_is_exactly_cf_of_the_basic_multilingual_plane() -> None:
    listed = {chr(c) for c in range(0x10000) if re.fullmatch(f"[{FORMAT}]", chr(c))}
    cf = {chr(c) for c in range(0x10000) if unicodedata.category(chr(c)) == "Cf"}
    assert listed == cf, f"Unicode {unicodedata.unidata_version} (Python {sys.version_info[:2]})"


@pytest.mark.parametrize("pattern", [DISPLAY_NAME_PATTERN, BIO_PATTERN], ids=["display_name", "bio"])
def test_the_openapi_patterns_refuse_what_the_domain_refuses(pattern: str) -> None:
    for character in FORMAT_CHARACTERS.values():
        if ord(character) < 0x10000:
            assert not re.fullmatch(pattern, f"Admin{character}gnp.exe"), hex(ord(character))
    assert re.fullmatch(pattern, "Zoë Ångström 👩\U0001f3fd")
