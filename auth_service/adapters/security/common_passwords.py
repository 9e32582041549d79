"""Rejects passwords found in zxcvbn's offline frequency lists (common passwords, words, names)."""

from __future__ import annotations

from zxcvbn.frequency_lists import FREQUENCY_LISTS


class ZxcvbnCommonPasswords:
    """The whole `passwords` list (30,000 entries from leaked-password corpora), compared case-insensitively."""

    def __init__(self) -> None:
        self._common = frozenset(word.lower() for word in FREQUENCY_LISTS["passwords"])

    def is_common(self, password: str) -> bool:
        return password.lower() in self._common
