"""Use case: create an account."""

from __future__ import annotations

from uuid import uuid4

from auth_service.application.audit import audit
from auth_service.application.errors import DependencyUnavailable
from auth_service.application.passwords import enforce_password_policy
from auth_service.application.ports import (
    AuditEventType,
    AuthEvent,
    AuthMetrics,
    Clock,
    CommonPasswords,
    PasswordHasher,
    RateLimiter,
    RequestContext,
    UnitOfWorkFactory,
)
from auth_service.domain.errors import RegistrationThrottled
from auth_service.domain.model import Profile, User
from auth_service.domain.values import Email, clean_display_name


class Register:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        hasher: PasswordHasher,
        common_passwords: CommonPasswords,
        limiter: RateLimiter,
        metrics: AuthMetrics,
        clock: Clock,
    ) -> None:
        self._uow = uow
        self._hasher = hasher
        self._common_passwords = common_passwords
        self._limiter = limiter
        self._metrics = metrics
        self._clock = clock

    async def __call__(self, email: str, password: str, display_name: str, context: RequestContext) -> Profile:
        address = Email(email)
        name = clean_display_name(display_name)
        enforce_password_policy(self._common_passwords, password, address)
        await self._admit(context)
        password_hash = await self._hasher.hash(password)
        now = self._clock.now()
        user = User(
            id=uuid4(),
            email=address,
            display_name=name,
            password_hash=password_hash,
            created_at=now,
            updated_at=now,
        )
        async with self._uow() as uow:
            await uow.users.add(user)  # the unique index decides races: EmailAlreadyRegistered
            await audit(uow, AuditEventType.REGISTERED, now, context, user_id=user.id)
            await uow.commit()
        self._metrics.count(AuthEvent.REGISTRATION)
        return Profile.of(user)

    async def _admit(self, context: RequestContext) -> None:
        """Counted per source once the request is valid, before the hash. Registration needs only PostgreSQL:
        with Redis unreachable it is admitted, and the bounded hashing queue still caps the work."""
        try:
            wait = await self._limiter.admit_registration(context.ip)
        except DependencyUnavailable:
            return
        if wait is not None:
            raise RegistrationThrottled(wait.seconds)
