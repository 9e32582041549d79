"""Use case: create an account."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import uuid4

from auth_service.application.audit import audit, throttled
from auth_service.application.devices import KnownDevices
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
    ThrottleAudit,
    UnitOfWorkFactory,
)
from auth_service.domain.errors import RegistrationThrottled
from auth_service.domain.model import Profile, User
from auth_service.domain.values import Email, clean_display_name


@dataclass(frozen=True, slots=True)
class Registered:
    profile: Profile
    device_token: str  # the device that registered is a known device of the new account


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
        devices: KnownDevices,
        throttle_audit: ThrottleAudit,
    ) -> None:
        self._uow = uow
        self._throttle_audit = throttle_audit
        self._hasher = hasher
        self._common_passwords = common_passwords
        self._limiter = limiter
        self._metrics = metrics
        self._clock = clock
        self._devices = devices

    async def __call__(self, email: str, password: str, display_name: str, context: RequestContext) -> Registered:
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
            device_token = await self._devices.remember(uow, user.id, None, now)
            await audit(uow, AuditEventType.REGISTERED, now, context, user_id=user.id)
            await uow.commit()
        self._metrics.count(AuthEvent.REGISTRATION)
        return Registered(Profile.of(user), device_token)

    async def _admit(self, context: RequestContext) -> None:
        """Counted per source once the request is valid, before the hash. Registration needs only PostgreSQL:
        with Redis unreachable it is admitted, and the bounded hashing queue still caps the work."""
        try:
            wait = await self._limiter.admit_registration(context.ip)
        except DependencyUnavailable:
            return
        if wait is not None:
            self._metrics.count(AuthEvent.REGISTRATION_THROTTLED)
            self._throttle_audit.refused(
                throttled(AuditEventType.REGISTRATION_THROTTLED, self._clock.now(), context, wait)
            )
            raise RegistrationThrottled(wait.seconds)
