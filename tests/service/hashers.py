"""Real argon2 hashers that tests can hold at a chosen point, to build a race deterministically."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter

from passlib.context import CryptContext

from auth_service.adapters.security.hashing import Argon2PasswordHasher, make_context

# Cheap argon2id parameters: the races under test do not depend on the cost.
CHEAP_CONTEXT = make_context(memory_kib=1024, time_cost=1)


def cheap_hasher(**options: int) -> Argon2PasswordHasher:
    return Argon2PasswordHasher(CHEAP_CONTEXT, **options)


class GatedHasher:
    """Delegates to a real hasher, but an armed operation on a given password waits until the test opens it."""

    def __init__(self, inner: Argon2PasswordHasher) -> None:
        self.inner = inner
        self.calls: Counter[tuple[str, str]] = Counter()
        self._armed: set[tuple[str, str]] = set()
        self._open = asyncio.Event()
        self._entered = asyncio.Condition()

    def arm(self, operation: str, password: str) -> None:
        self._armed.add((operation, password))
        self._open.clear()

    def open(self) -> None:
        self._open.set()

    async def wait_for_entries(self, operation: str, password: str, count: int) -> None:
        async with self._entered:
            await self._entered.wait_for(lambda: self.calls[(operation, password)] >= count)

    async def _pass(self, operation: str, password: str) -> None:
        async with self._entered:
            self.calls[(operation, password)] += 1
            self._entered.notify_all()
        if (operation, password) in self._armed:
            await self._open.wait()

    async def hash(self, password: str) -> str:
        await self._pass("hash", password)
        return await self.inner.hash(password)

    async def verify(self, password: str, password_hash: str | None) -> tuple[bool, str | None]:
        await self._pass("verify", password)
        return await self.inner.verify(password, password_hash)


class BlockingContext:
    """A CryptContext whose operations on one password block their hashing thread until released: it fills
    the real hasher's thread pool from inside, as a slow hash would."""

    def __init__(self, blocking_password: str, context: CryptContext = CHEAP_CONTEXT) -> None:
        self._context = context
        self._blocking_password = blocking_password
        self.released = threading.Event()
        self.started: Counter[str] = Counter()
        self._lock = threading.Lock()

    def _enter(self, password: str) -> None:
        with self._lock:
            self.started[password] += 1
        if password == self._blocking_password:
            self.released.wait(timeout=60)

    def hash(self, password: str) -> str:
        self._enter(password)
        return self._context.hash(password)  # type: ignore[no-any-return]  # passlib is untyped

    def verify_and_update(self, password: str, stored: str) -> tuple[bool, str | None]:
        self._enter(password)
        return self._context.verify_and_update(password, stored)  # type: ignore[no-any-return]
