"""In-memory fakes of the application's ports, for use-case tests that need no PostgreSQL or Redis.

Each fake keeps the promise its Protocol documents and nothing more (mypy checks them against the Protocols in
`FakePorts`). They share one `journal`, the order in which the outside world saw writes happen.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Self
from uuid import UUID

from auth_service.adapters.security.refresh_tokens import HmacRefreshTokenCodec
from auth_service.application.audit import AggregatedThrottleAudit
from auth_service.application.devices import DevicePolicy
from auth_service.application.errors import DependencyUnavailable
from auth_service.application.ports import (
    AccessClaims,
    AuditEvent,
    AuditLog,
    AuthEvent,
    AuthMetrics,
    CachedSession,
    CachedSessionState,
    Clock,
    CommonPasswords,
    DeviceRepository,
    DeviceToken,
    GuessTicket,
    IssuedAccessToken,
    PasswordHasher,
    PresentedToken,
    ProfileCache,
    RateLimiter,
    RefreshBudget,
    RefreshState,
    RefreshTokenCodec,
    RetryAfter,
    Revoked,
    SessionAndProfileCache,
    SessionCache,
    SessionPosition,
    SessionRepository,
    ThrottleAudit,
    ThrottleAuditMetrics,
    ThrottleAuditReport,
    TokenIssuer,
    UnitOfWork,
    UnitOfWorkFactory,
    UserRepository,
)
from auth_service.application.sessions import SessionLimits
from auth_service.domain.errors import EmailAlreadyRegistered, InvalidToken
from auth_service.domain.model import Profile, Session, SessionPolicy, User
from auth_service.domain.values import Email

ACCESS_TOKEN_TTL = 900
PROFILE_COLUMNS = frozenset({"display_name", "bio", "avatar_url"})
SESSION_POLICY = SessionPolicy(absolute_lifetime=timedelta(days=30), idle_timeout=timedelta(days=7))
DEVICE_POLICY = DevicePolicy(ttl=timedelta(days=30), per_account=3)
THROTTLE_AUDIT_MAX_KEYS = 4
SESSION_LIMITS = SessionLimits(
    refresh_grace=timedelta(seconds=10),
    max_sessions_per_account=5,
    refresh_budget=RefreshBudget(capacity=10, per_second=10 / 60),
)


class FakeClock:
    def __init__(self) -> None:
        self.current = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


# --- PostgreSQL: tables, repositories, unit of work ----------------------------------------------------------------


@dataclass
class RefreshTokenRow:
    session_id: UUID
    rotated_at: datetime | None = None
    generation: int | None = 0  # None: a token from before generations (random, kept once rotated)


@dataclass
class RefreshGeneration:
    """sessions.refresh_generation and sessions.refresh_rotated_at."""

    generation: int = 0
    rotated_at: datetime | None = None
    allowance: float | None = None  # sessions.refresh_allowance


@dataclass(frozen=True)
class DeviceRow:
    device: DeviceToken
    last_used_at: datetime


@dataclass
class Tables:
    users: dict[UUID, User] = field(default_factory=dict)
    sessions: dict[UUID, Session] = field(default_factory=dict)
    revoked_reasons: dict[UUID, str] = field(default_factory=dict)
    refresh_tokens: dict[bytes, RefreshTokenRow] = field(default_factory=dict)
    audit: list[AuditEvent] = field(default_factory=list)
    devices: dict[bytes, DeviceRow] = field(default_factory=dict)
    generations: dict[UUID, RefreshGeneration] = field(default_factory=dict)

    def copy(self) -> Tables:
        return Tables(
            dict(self.users),
            dict(self.sessions),
            dict(self.revoked_reasons),
            {h: replace(row) for h, row in self.refresh_tokens.items()},
            list(self.audit),
            dict(self.devices),
            {s: replace(g) for s, g in self.generations.items()},
        )


class FakeDatabase:
    """The committed state. `before_statement` runs before every repository call (a test's hook to change the
    world mid-use-case, as a concurrent request would)."""

    def __init__(self, journal: list[str]) -> None:
        self.tables = Tables()
        self.journal = journal
        self.units_entered = 0  # units of work entered, atomic or not
        self.open_units = 0  # units of work entered and not yet left: each holds a pooled connection
        self.before_statement: Callable[[str], None] | None = None
        self.unavailable = False

    def statement(self, name: str) -> None:
        if self.unavailable:
            raise DependencyUnavailable("postgresql")
        if self.before_statement is not None:
            self.before_statement(name)


Write = Callable[[Tables], None]


class Transaction:
    """What one unit of work sees (`tables`) and how it changes them (`write`), as PostgreSQL's READ COMMITTED (the
    service's isolation level) has it. Atomic: each statement reads the latest committed rows plus the transaction's
    own writes, and the writes reach the committed tables only on commit, replayed one by one (so rows others
    changed meanwhile are not overwritten). Not atomic: every write lands at once."""

    def __init__(self, db: FakeDatabase, atomic: bool) -> None:
        self.db = db
        self.atomic = atomic
        self._pending: list[Write] = []

    @property
    def tables(self) -> Tables:
        if not self.atomic:
            return self.db.tables
        view = self.db.tables.copy()
        for change in self._pending:
            change(view)
        return view

    def write(self, change: Write) -> None:
        if self.atomic:
            self._pending.append(change)
        else:
            change(self.db.tables)

    def commit(self) -> None:
        for change in self._pending:
            change(self.db.tables)
        self._pending.clear()


class FakeUserRepository:
    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    async def add(self, user: User) -> None:
        self._tx.db.statement("users.add")
        if any(u.email.canonical == user.email.canonical for u in self._tx.tables.users.values()):
            raise EmailAlreadyRegistered()  # the unique index on the canonical address
        self._tx.write(lambda t: t.users.__setitem__(user.id, user))

    async def get(self, user_id: UUID) -> User | None:
        self._tx.db.statement("users.get")
        return self._tx.tables.users.get(user_id)

    async def get_by_email(self, email: Email) -> User | None:
        self._tx.db.statement("users.get_by_email")
        return next((u for u in self._tx.tables.users.values() if u.email.canonical == email.canonical), None)

    async def lock(self, user_id: UUID) -> User | None:
        """SELECT ... FOR NO KEY UPDATE: the row lock is not modelled (no two use cases run at once here), only
        the journal entry that says the lock was taken."""
        self._tx.db.statement("users.lock")
        self._tx.db.journal.append(f"db: lock user {user_id}")
        return self._tx.tables.users.get(user_id)

    async def update(self, user: User) -> None:
        self._tx.db.statement("users.update")

        def change(t: Tables) -> None:
            if user.id in t.users:
                t.users[user.id] = user

        self._tx.write(change)

    async def update_profile(
        self, user_id: UUID, fields: Mapping[str, str | None], updated_at: datetime
    ) -> User | None:
        self._tx.db.statement("users.update_profile")
        if not set(fields) <= PROFILE_COLUMNS:  # as the real repository: never the hash, the address or the id
            raise ValueError(f"not profile columns: {sorted(set(fields) - PROFILE_COLUMNS)}")

        def change(t: Tables) -> None:
            if user_id in t.users:
                t.users[user_id] = replace(t.users[user_id], **fields, updated_at=updated_at)  # type: ignore[arg-type]

        self._tx.write(change)
        return self._tx.tables.users.get(user_id)

    async def delete(self, user_id: UUID) -> None:
        self._tx.db.statement("users.delete")
        self._tx.db.journal.append(f"db: delete user {user_id}")

        def change(t: Tables) -> None:
            t.users.pop(user_id, None)
            gone = {s for s, session in t.sessions.items() if session.user_id == user_id}  # ON DELETE CASCADE
            for session_id in gone:
                del t.sessions[session_id]
            for token_hash in [h for h, row in t.refresh_tokens.items() if row.session_id in gone]:
                del t.refresh_tokens[token_hash]
            for token_hash in [h for h, row in t.devices.items() if row.device.user_id == user_id]:
                del t.devices[token_hash]
            for session_id in gone:
                t.generations.pop(session_id, None)

        self._tx.write(change)


class FakeSessionRepository:
    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    def _add(self, session: Session, refresh_token_hash: bytes) -> Write:
        def change(t: Tables) -> None:
            t.sessions[session.id] = session
            t.refresh_tokens[refresh_token_hash] = RefreshTokenRow(session.id)
            t.generations[session.id] = RefreshGeneration()

        return change

    async def add(self, session: Session, refresh_token_hash: bytes) -> None:
        self._tx.db.statement("sessions.add")
        self._tx.write(self._add(session, refresh_token_hash))

    async def add_after_login(
        self, session: Session, refresh_token_hash: bytes, password_hash: str, event: AuditEvent
    ) -> bool:
        self._tx.db.statement("sessions.add_after_login")
        user = self._tx.tables.users.get(session.user_id)  # the latest committed row, under its lock
        if user is None or user.password_hash != password_hash:
            return False
        self._tx.write(self._add(session, refresh_token_hash))
        self._tx.write(lambda t: t.audit.append(event))
        return True

    async def get(self, session_id: UUID) -> Session | None:
        self._tx.db.statement("sessions.get")
        return self._tx.tables.sessions.get(session_id)

    async def list_active(self, user_id: UUID, now: datetime) -> Sequence[Session]:
        self._tx.db.statement("sessions.list_active")
        mine = [s for s in self._tx.tables.sessions.values() if s.user_id == user_id and s.is_active(now)]
        return sorted(mine, key=lambda s: s.created_at, reverse=True)

    async def revoke(self, session_ids: Sequence[UUID], now: datetime, reason: str) -> None:
        self._tx.db.statement("sessions.revoke")
        self._tx.db.journal.append(f"db: revoke {sorted(map(str, session_ids))} ({reason})")

        def change(t: Tables) -> None:
            for session_id in session_ids:
                session = t.sessions.get(session_id)
                if session is not None and session.revoked_at is None:
                    t.sessions[session_id] = replace(session, revoked_at=now)
                    t.revoked_reasons[session_id] = reason

        self._tx.write(change)

    async def list_active_page(
        self, user_id: UUID, now: datetime, after: SessionPosition | None, limit: int
    ) -> Sequence[Session]:
        self._tx.db.statement("sessions.list_active_page")
        mine = sorted(
            (s for s in self._tx.tables.sessions.values() if s.user_id == user_id and s.is_active(now)),
            key=lambda s: (s.created_at, s.id.bytes),
            reverse=True,
        )
        if after is not None:
            mine = [s for s in mine if (s.created_at, s.id.bytes) < (after.created_at, after.session_id.bytes)]
        return mine[:limit]

    async def oldest_active_beyond(self, user_id: UUID, now: datetime, keep: int) -> Sequence[UUID]:
        self._tx.db.statement("sessions.oldest_active_beyond")
        return [s.id for s in await self.list_active_page(user_id, now, None, 1_000_000)][keep:]

    async def rotate_refresh_token(
        self,
        session_id: UUID,
        presented_hash: bytes,
        generation: int,
        successor_hash: bytes,
        now: datetime,
        budget: RefreshBudget,
    ) -> Session | None:
        self._tx.db.statement("sessions.rotate_refresh_token")
        tables = self._tx.tables
        row = tables.refresh_tokens.get(presented_hash)
        session = tables.sessions.get(session_id)
        state = tables.generations.get(session_id, RefreshGeneration())
        if (
            row is None
            or row.session_id != session_id
            or row.rotated_at is not None
            or session is None
            or not session.is_active(now)
            or state.generation != generation
            or budget.allowance(state.allowance, state.rotated_at, now) < 1
        ):
            return None
        left = budget.allowance(state.allowance, state.rotated_at, now) - 1
        touched = replace(session, last_used_at=now)

        def change(t: Tables) -> None:
            presented = t.refresh_tokens.pop(presented_hash)
            if presented.generation is None:  # from before generations: kept, marked rotated
                t.refresh_tokens[presented_hash] = replace(presented, rotated_at=now)
            t.refresh_tokens[successor_hash] = RefreshTokenRow(session_id, generation=generation + 1)
            t.generations[session_id] = RefreshGeneration(generation + 1, now, left)
            t.sessions[session_id] = touched

        self._tx.write(change)
        return touched

    async def refresh_state(self, presented_hash: bytes, session_id: UUID | None) -> RefreshState | None:
        self._tx.db.statement("sessions.refresh_state")
        tables = self._tx.tables
        row = tables.refresh_tokens.get(presented_hash)
        if session_id is None:
            session_id = row.session_id if row is not None else None
        session = tables.sessions.get(session_id) if session_id is not None else None
        if session is None:
            return None
        current = [h for h, r in tables.refresh_tokens.items() if r.session_id == session.id and r.rotated_at is None]
        state = tables.generations.get(session.id, RefreshGeneration())
        if row is None or row.session_id != session.id:
            presented = PresentedToken.UNKNOWN
        else:
            presented = PresentedToken.ROTATED if row.rotated_at is not None else PresentedToken.CURRENT
        return RefreshState(
            session, state.generation, current[-1] if current else None, state.rotated_at, presented, state.allowance
        )


class FakeDeviceRepository:
    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    async def owner(self, token_hash: bytes, now: datetime) -> str | None:
        self._tx.db.statement("devices.owner")
        row = self._tx.tables.devices.get(token_hash)
        if row is None or row.device.expires_at <= now:
            return None
        user = self._tx.tables.users.get(row.device.user_id)
        return user.email.canonical if user else None

    async def remember(self, device: DeviceToken, now: datetime, keep: int) -> None:
        self._tx.db.statement("devices.remember")

        def change(t: Tables) -> None:
            if device.user_id not in t.users:
                return  # the account is gone: no row (as the real statement selects from users)
            stored = t.devices.get(device.token_hash)
            if stored is not None and stored.device.user_id != device.user_id:
                return  # another account's: left alone
            created = stored.device.created_at if stored else device.created_at
            t.devices[device.token_hash] = DeviceRow(replace(device, created_at=created), now)
            others = sorted(
                (
                    row
                    for h, row in t.devices.items()
                    if row.device.user_id == device.user_id and h != device.token_hash
                ),
                key=lambda row: row.last_used_at,
                reverse=True,
            )
            for position, row in enumerate(others):
                if row.device.expires_at <= now or position >= keep - 1:
                    del t.devices[row.device.token_hash]

        self._tx.write(change)


class FakeAuditLog:
    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    async def record(self, event: AuditEvent) -> None:
        self._tx.db.statement("audit.record")
        self._tx.write(lambda t: t.audit.append(event))

    async def record_all(self, events: Sequence[AuditEvent]) -> None:
        if events:
            self._tx.db.statement("audit.record_all")
            self._tx.write(lambda t: t.audit.extend(events))


class FakeUnitOfWork:
    def __init__(self, db: FakeDatabase, atomic: bool) -> None:
        self._db = db
        self._tx = Transaction(db, atomic)
        self.users: UserRepository = FakeUserRepository(self._tx)
        self.sessions: SessionRepository = FakeSessionRepository(self._tx)
        self.devices: DeviceRepository = FakeDeviceRepository(self._tx)
        self.audit: AuditLog = FakeAuditLog(self._tx)

    async def __aenter__(self) -> Self:
        self._db.units_entered += 1
        self._db.open_units += 1
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._db.open_units -= 1  # uncommitted writes of an atomic unit of work are dropped with it

    async def commit(self) -> None:
        self._tx.commit()
        if self._tx.atomic:
            self._db.journal.append("db: commit")


class FakeUnitOfWorkFactory:
    def __init__(self, db: FakeDatabase) -> None:
        self._db = db

    def __call__(self, *, atomic: bool = True) -> UnitOfWork:
        return FakeUnitOfWork(self._db, atomic)


# --- Security: hashing, tokens, common passwords -----------------------------------------------------------------


class FakeHasher:
    """A "hash" is `<scheme>$<n>$<password>`: never use it outside tests. Scheme `current` is up to date,
    `outdated` verifies but asks for a new hash (as argon2 parameters that changed would)."""

    def __init__(self) -> None:
        self._salts = itertools.count(1)
        self.hashed: list[str] = []
        self.verified: list[str | None] = []  # the stored hash each verification ran against (None: the dummy)
        self.on_verify: Callable[[], None] | None = None  # runs after the verification, as time passes while hashing
        self.on_hash: Callable[[], None] | None = None  # the same, after a hash is made

    def make(self, password: str, scheme: str = "current") -> str:
        return f"{scheme}${next(self._salts)}${password}"

    async def hash(self, password: str) -> str:
        self.hashed.append(password)
        if self.on_hash is not None:
            self.on_hash()
        return self.make(password)

    async def verify(self, password: str, password_hash: str | None) -> tuple[bool, str | None]:
        self.verified.append(password_hash)
        if self.on_verify is not None:
            self.on_verify()
        if password_hash is None:
            return False, None  # verified against a dummy hash: the same cost, never a match
        scheme, _, stored = password_hash.split("$", 2)
        if stored != password:
            return False, None
        return True, (self.make(password) if scheme == "outdated" else None)


class FakeTokenIssuer:
    """Tokens are names of the claims it issued; `verify` refuses an unknown token and an expired one (without the
    few seconds of clock leeway the real issuer allows)."""

    def __init__(self, clock: FakeClock) -> None:
        self._clock = clock
        self._issued: dict[str, AccessClaims] = {}
        self._ids = itertools.count(1)

    def issue(self, user_id: UUID, session_id: UUID, now: datetime, token_id: str | None = None) -> IssuedAccessToken:
        token_id = token_id or str(next(self._ids))
        token = f"access-{token_id}-{int(now.timestamp())}"
        self._issued[token] = AccessClaims(user_id, session_id, token_id, now + timedelta(seconds=ACCESS_TOKEN_TTL))
        return IssuedAccessToken(token, ACCESS_TOKEN_TTL)

    def verify(self, token: str) -> AccessClaims:
        claims = self._issued.get(token)
        if claims is None or claims.expires_at <= self._clock.now():
            raise InvalidToken()
        return claims

    def public_jwks(self) -> dict[str, Any]:
        return {"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "fake", "x": "AAAA"}]}


class FakeCommonPasswords:
    def __init__(self, *common: str) -> None:
        self._common = set(common)

    def is_common(self, password: str) -> bool:
        return password in self._common


# --- Redis: limiter and caches -------------------------------------------------------------------------------------


class FakeRateLimiter:
    """Says yes unless told otherwise (`refuse_guesses`, `refuse_registrations`); records how each ticket was
    settled. `unavailable` makes every call fail as Redis being down would."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self.refuse_guesses: RetryAfter | None = None
        self.refuse_registrations: RetryAfter | None = None
        self.unavailable = False
        self.reserved: list[GuessTicket] = []
        self.logins_counted = 0
        self.settled: dict[str, str] = {}  # ticket id -> "failed" | "correct" | "released"
        self.lifted: list[tuple[str | None, str | None]] = []  # (account key, source) of every lift

    def _call(self) -> None:
        if self.unavailable:
            raise DependencyUnavailable("redis")

    async def reserve_guess(
        self, account_key: str, source: str | None, *, login: bool, device: str | None = None
    ) -> GuessTicket | RetryAfter:
        self._call()
        if self.refuse_guesses is not None:
            return self.refuse_guesses
        ticket = GuessTicket(str(next(self._ids)), account_key, source, device)
        self.reserved.append(ticket)
        self.logins_counted += login
        return ticket

    def _settle(self, ticket: GuessTicket, outcome: str) -> None:
        assert ticket.id not in self.settled, f"ticket {ticket.id} settled twice"
        self._call()
        self.settled[ticket.id] = outcome

    async def record_failed_guess(self, ticket: GuessTicket) -> None:
        self._settle(ticket, "failed")

    async def record_correct_guess(self, ticket: GuessTicket) -> None:
        self._settle(ticket, "correct")

    async def release_guess(self, ticket: GuessTicket) -> None:
        self._settle(ticket, "released")

    async def admit_registration(self, source: str | None) -> RetryAfter | None:
        self._call()
        return self.refuse_registrations

    async def lift(self, *, account_key: str | None = None, source: str | None = None) -> int:
        self._call()
        self.lifted.append((account_key, source))
        return 0


class FakeSessionCache:
    """Tombstones always win: a stored state never replaces an entry that is there (Redis SET NX)."""

    def __init__(self, journal: list[str]) -> None:
        self.entries: dict[UUID, CachedSessionState | Revoked] = {}
        self.journal = journal
        self.unavailable = False

    def _call(self) -> None:
        if self.unavailable:
            raise DependencyUnavailable("redis")

    async def get(self, session_id: UUID) -> CachedSession:
        self._call()
        return self.entries.get(session_id)

    async def store(self, session_id: UUID, state: CachedSessionState) -> None:
        self._call()
        self.entries.setdefault(session_id, state)

    async def mark_revoked(self, session_ids: Sequence[UUID]) -> None:
        self._call()
        self.journal.append(f"cache: tombstone {sorted(map(str, session_ids))}")
        for session_id in session_ids:
            self.entries[session_id] = Revoked.TOMBSTONE


class FakeProfileCache:
    def __init__(self) -> None:
        self.entries: dict[UUID, Profile] = {}
        self.unavailable = False

    def _call(self) -> None:
        if self.unavailable:
            raise DependencyUnavailable("redis")

    async def get(self, user_id: UUID) -> Profile | None:
        self._call()
        return self.entries.get(user_id)

    async def store(self, profile: Profile) -> None:
        self._call()
        self.entries[profile.id] = profile

    async def forget(self, user_id: UUID) -> None:
        self._call()
        self.entries.pop(user_id, None)


class FakeSessionAndProfileCache:
    def __init__(self, sessions: FakeSessionCache, profiles: FakeProfileCache) -> None:
        self._sessions = sessions
        self._profiles = profiles

    async def get(self, session_id: UUID, user_id: UUID) -> tuple[CachedSession, Profile | None]:
        return await self._sessions.get(session_id), await self._profiles.get(user_id)


@dataclass
class RecordingMetrics:
    events: list[AuthEvent] = field(default_factory=list)

    def count(self, event: AuthEvent) -> None:
        self.events.append(event)


@dataclass
class RecordingThrottleAuditMetrics:
    reports: list[ThrottleAuditReport] = field(default_factory=list)

    def flushed(self, report: ThrottleAuditReport) -> None:
        self.reports.append(report)


# --- Everything together ------------------------------------------------------------------------------------------


class FakePorts:
    """One fake per port, sharing a journal. The annotations are the Protocols: mypy checks each fake fits."""

    def __init__(self) -> None:
        self.journal: list[str] = []
        self.db = FakeDatabase(self.journal)
        self.clock = FakeClock()
        self.hasher = FakeHasher()
        self.tokens = FakeTokenIssuer(self.clock)
        self.common_passwords = FakeCommonPasswords("password1234", "correcthorse")
        self.limiter = FakeRateLimiter()
        self.session_cache = FakeSessionCache(self.journal)
        self.profile_cache = FakeProfileCache()
        self.session_and_profile_cache = FakeSessionAndProfileCache(self.session_cache, self.profile_cache)
        self.metrics = RecordingMetrics()
        self.uow = FakeUnitOfWorkFactory(self.db)
        self.throttle_audit_metrics = RecordingThrottleAuditMetrics()
        # The application's own aggregation on the fake database (tests flush it when they look at the trail).
        self.throttle_audit = AggregatedThrottleAudit(
            uow=self.uow, metrics=self.throttle_audit_metrics, max_keys=THROTTLE_AUDIT_MAX_KEYS
        )
        # Pure computation, no I/O: the real codec with a fixed key.
        self.refresh_tokens = HmacRefreshTokenCodec(b"fake refresh-token key, 32 bytes")

    @property
    def tables(self) -> Tables:
        return self.db.tables


def _fits_the_ports(p: FakePorts) -> None:
    """Never called: mypy reads it, and fails if a fake drifts from its Protocol."""
    _: tuple[
        UnitOfWorkFactory,
        Clock,
        PasswordHasher,
        TokenIssuer,
        CommonPasswords,
        RateLimiter,
        SessionCache,
        ProfileCache,
        SessionAndProfileCache,
        AuthMetrics,
        RefreshTokenCodec,
        ThrottleAudit,
        ThrottleAuditMetrics,
    ] = (
        p.uow,
        p.clock,
        p.hasher,
        p.tokens,
        p.common_passwords,
        p.limiter,
        p.session_cache,
        p.profile_cache,
        p.session_and_profile_cache,
        p.metrics,
        p.refresh_tokens,
        p.throttle_audit,
        p.throttle_audit_metrics,
    )
