"""The password hasher every use case sees: one normalization rule for hashing and verifying."""

from __future__ import annotations

from auth_service.application.ports import PasswordHasher
from auth_service.domain.values import normalize_password


class NormalizedPasswords:
    """Hashes and verifies the normalized form of a password (see `normalize_password`).

    A hash made before normalization was introduced may be of the password exactly as typed: when the typed
    form differs from the normalized one and only the typed form matches, the login succeeds and gets a new hash
    of the normalized form back to store, like any hash with outdated parameters. Unknown users take the same
    path (two dummy verifications), so the extra check reveals nothing about whether an account exists.
    """

    def __init__(self, hasher: PasswordHasher) -> None:
        self._hasher = hasher

    async def hash(self, password: str) -> str:
        return await self._hasher.hash(normalize_password(password))

    async def verify(self, password: str, password_hash: str | None) -> tuple[bool, str | None]:
        normalized = normalize_password(password)
        matches, new_hash = await self._hasher.verify(normalized, password_hash)
        if matches or normalized == password:
            return matches, new_hash
        legacy_match, _ = await self._hasher.verify(password, password_hash)
        if not legacy_match:
            return False, None
        return True, await self._hasher.hash(normalized)
