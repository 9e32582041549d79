"""Use case: the operator lifts a block (`make unblock ACCOUNT=... | IP=...`)."""

from __future__ import annotations

from dataclasses import dataclass

from auth_service.application.audit import audit
from auth_service.application.errors import DependencyUnavailable
from auth_service.application.guesses import account_key
from auth_service.application.ports import AuditEventType, Clock, RateLimiter, RequestContext, UnitOfWorkFactory
from auth_service.domain.values import Email


@dataclass(frozen=True, slots=True)
class Lifted:
    removed: int  # limiter entries forgotten (0: there was nothing to lift)
    audited: bool  # False only when PostgreSQL was unreachable: the block is lifted all the same


class LiftThrottles:
    """Forget every limit's state for one account (unknown devices and each known device) and/or one client
    address. Nothing else changes: sessions, devices and the audit trail stay. Audited as `throttle_lifted`."""

    def __init__(self, *, limiter: RateLimiter, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._limiter = limiter
        self._uow = uow
        self._clock = clock

    async def __call__(self, *, email: str | None, ip: str | None, operator: str) -> Lifted:
        if not email and not ip:
            raise ValueError("name an account (email) or a client address (ip)")
        key = account_key(Email(email)) if email else None
        removed = await self._limiter.lift(account_key=key, source=ip)
        details = {"operator": operator, "removed": str(removed)}
        if key:
            details["account_key"] = key
        try:
            async with self._uow(atomic=False) as uow:
                await audit(
                    uow, AuditEventType.THROTTLE_LIFTED, self._clock.now(), RequestContext(ip=ip), details=details
                )
        except DependencyUnavailable:
            return Lifted(removed, audited=False)
        return Lifted(removed, audited=True)
