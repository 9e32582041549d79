"""Known devices (OWASP "device cookies"): a random token handed to a browser or app when it logs in or registers,
stored only as a hash and bound to the account. Presented again with a login for that account, it puts the
guess in the device's own budget, so strangers guessing the account's password cannot lock the owner out of the
devices the owner already uses. It grants no access by itself: it is not a credential, only a throttle key."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from auth_service.application.ports import Clock, DeviceToken, UnitOfWork, UnitOfWorkFactory
from auth_service.domain.values import Email

DEVICE_TOKEN_BYTES = 32  # 256 bits from a CSPRNG (ASVS 3.2.2 asks for at least 128)
# What a presented token may look like before anything is looked up: longer text is not one of ours.
DEVICE_TOKEN_MAX_LENGTH = 128


@dataclass(frozen=True, slots=True)
class DevicePolicy:
    ttl: timedelta  # a device unused this long is forgotten; every login from it starts the period again
    per_account: int  # the most recently used devices an account keeps; older ones are forgotten


def new_device_token() -> tuple[str, bytes]:
    token = secrets.token_urlsafe(DEVICE_TOKEN_BYTES)
    return token, hash_device_token(token)


def hash_device_token(token: str) -> bytes:
    # 256 bits of entropy: a fast unsalted hash makes the stored value useless to whoever reads the table.
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def device_id(token_hash: bytes) -> str:
    """The limiter's name for a device: part of its token's hash, never the token."""
    return token_hash.hex()[:32]


def session_device(session_id: UUID) -> str:
    """A signed-in session is a known device of its account (re-authentication guesses count there)."""
    return f"session-{session_id}"


@dataclass(frozen=True, slots=True)
class Recognised:
    """A presented device token that is valid for the account being logged in to."""

    token: str
    token_hash: bytes

    @property
    def id(self) -> str:
        return device_id(self.token_hash)


class KnownDevices:
    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock, policy: DevicePolicy) -> None:
        self._uow = uow
        self._clock = clock
        self._policy = policy

    async def recognise(self, token: str | None, address: Email) -> Recognised | None:
        """The presented token, if it is a live device token of this account. One indexed read, and only when a
        token was presented at all."""
        if not token or len(token) > DEVICE_TOKEN_MAX_LENGTH:
            return None
        token_hash = hash_device_token(token)
        async with self._uow(atomic=False) as uow:
            owner = await uow.devices.owner(token_hash, self._clock.now())
        return Recognised(token, token_hash) if owner == address.canonical else None

    async def remember(self, uow: UnitOfWork, user_id: UUID, known: Recognised | None, now: datetime) -> str:
        """Store a new device for the account, or extend the known one; the token the client keeps."""
        token, token_hash = (known.token, known.token_hash) if known else new_device_token()
        device = DeviceToken(token_hash=token_hash, user_id=user_id, created_at=now, expires_at=now + self._policy.ttl)
        await uow.devices.remember(device, now, self._policy.per_account)
        return token
