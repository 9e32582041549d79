"""Password guesses under the rate limiter: the account's key, and a reservation settled exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from types import TracebackType

from auth_service.application.errors import DependencyUnavailable
from auth_service.application.ports import GuessTicket, RateLimiter
from auth_service.domain.values import Email


def account_key(email: Email) -> str:
    """Rate-limit key for an account that never stores the address itself in Redis."""
    return hashlib.sha256(email.canonical.encode()).hexdigest()


class SettledGuess:
    """A reserved password guess, settled exactly once: as a failure, as correct, or (if the block ends
    without either, by an error or a cancelled request) released so that it counts for nothing."""

    def __init__(self, limiter: RateLimiter, ticket: GuessTicket) -> None:
        self._limiter = limiter
        self._ticket = ticket
        self._settled = False

    async def failed(self) -> None:
        self._settled = True
        await self._limiter.record_failed_guess(self._ticket)

    async def correct(self) -> None:
        self._settled = True
        with contextlib.suppress(DependencyUnavailable):
            # The password was right; failures not forgotten only expire later than they could.
            await self._limiter.record_correct_guess(self._ticket)

    async def __aenter__(self) -> SettledGuess:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._settled:
            return
        self._settled = True
        # Shielded: a cancelled request still releases its reservation (else it expires on its own).
        with contextlib.suppress(DependencyUnavailable, asyncio.CancelledError):
            await asyncio.shield(self._limiter.release_guess(self._ticket))
