"""The retention purge: ended sessions (with their refresh tokens), old audit events and expired device tokens,
deleted in bounded
batches by one task at a time, on a timer in every worker (docs/operations.md, "Data retention")."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from auth_service.application.errors import DependencyUnavailable
from auth_service.application.ports import Clock, PurgeReport, RetentionMetrics, RetentionStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    ended_sessions: timedelta  # kept this long after they were revoked or expired, then deleted
    audit_events: timedelta
    batch_size: int  # rows per delete (one short transaction each)
    max_batches: int  # per table and run: a run's work is bounded; what is left waits for the next run


class PurgeExpiredData:
    def __init__(
        self, *, store: RetentionStore, clock: Clock, metrics: RetentionMetrics, policy: RetentionPolicy
    ) -> None:
        self._store = store
        self._clock = clock
        self._metrics = metrics
        self._policy = policy

    async def __call__(self) -> PurgeReport | None:
        """One bounded run; None if another task holds the purge."""
        async with self._store.exclusive() as batches:
            if batches is None:
                return None
            now = self._clock.now()
            sessions, sessions_done = await self._drain(
                lambda limit: batches.delete_ended_sessions(now - self._policy.ended_sessions, limit)
            )
            audit_events, audit_done = await self._drain(
                lambda limit: batches.delete_audit_events(now - self._policy.audit_events, limit)
            )
            # A device past its expiry recognises nobody (DeviceRepository.owner): nothing to keep it for.
            devices, devices_done = await self._drain(lambda limit: batches.delete_expired_devices(now, limit))
        report = PurgeReport(
            sessions=sessions,
            audit_events=audit_events,
            devices=devices,
            complete=sessions_done and audit_done and devices_done,
        )
        self._metrics.purged(report)
        return report

    async def _drain(self, delete: Callable[[int], Awaitable[int]]) -> tuple[int, bool]:
        total = 0
        for _ in range(self._policy.max_batches):
            deleted = await delete(self._policy.batch_size)
            total += deleted
            if deleted < self._policy.batch_size:
                return total, True
        return total, False


async def purge_periodically(purge: PurgeExpiredData, interval_seconds: float) -> None:
    """Forever: wait a random part of the interval (tasks started together do not collide), then run, then
    wait the interval. A failure is logged and the next run tries again."""
    delay = random.uniform(0, interval_seconds)  # noqa: S311 - spreading timers, not a secret
    while True:
        await asyncio.sleep(delay)
        delay = interval_seconds
        try:
            report = await purge()
        except DependencyUnavailable:
            log.warning("retention purge skipped: a dependency is unavailable")
            continue
        except Exception:
            log.exception("retention purge failed")
            continue
        if report is not None and (report.sessions or report.audit_events or report.devices or not report.complete):
            log.info(
                "retention purge deleted %d sessions, %d audit events and %d device tokens%s",
                report.sessions,
                report.audit_events,
                report.devices,
                "" if report.complete else " (more left for the next run)",
            )
