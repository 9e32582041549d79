"""Password rules and the hashing every use case sees: one normalization rule for hashing and verifying, the
policy a new password must meet, and the re-check under the account's row lock."""

from __future__ import annotations

from dataclasses import dataclass

from auth_service.application.ports import CommonPasswords, PasswordHasher, UnitOfWork
from auth_service.domain.errors import WeakPassword
from auth_service.domain.model import User
from auth_service.domain.values import Email, check_password_shape, normalize_password


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


def enforce_password_policy(common_passwords: CommonPasswords, password: str, email: Email) -> None:
    check_password_shape(password, email)
    if common_passwords.is_common(normalize_password(password)):
        raise WeakPassword("This password is too common. Choose a less predictable one.")


@dataclass(frozen=True, slots=True)
class Reverified:
    """The user as it is under the row lock (None: deleted meanwhile), and whether the password still matches."""

    user: User | None
    matches: bool
    upgraded_hash: str | None = None


async def lock_and_reverify(
    uow: UnitOfWork, hasher: PasswordHasher, verified: User, password: str, upgraded_hash: str | None = None
) -> Reverified:
    """Re-read the user under the row lock that login, password change and deletion all take, held to the end of
    the transaction. A password change or deletion that committed since `verified` was read wins: the password is
    verified again only if the hash changed (`upgraded_hash`, from the first verification, stands otherwise)."""
    current = await uow.users.lock(verified.id)
    if current is None:
        return Reverified(None, matches=False)
    if current.password_hash == verified.password_hash:
        return Reverified(current, matches=True, upgraded_hash=upgraded_hash)
    matches, upgraded_hash = await hasher.verify(password, current.password_hash)
    return Reverified(current, matches, upgraded_hash)
