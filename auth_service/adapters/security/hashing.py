"""argon2id password hashing through passlib's CryptContext (the maintained `libpass` fork)."""

from __future__ import annotations

import asyncio
import math
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from passlib.context import CryptContext

from auth_service.application.errors import Overloaded

# OWASP Password Storage Cheat Sheet minimum for argon2id.
OWASP_MEMORY_KIB = 19456
OWASP_TIME_COST = 2
OWASP_PARALLELISM = 1

T = TypeVar("T")


def make_context(memory_kib: int = OWASP_MEMORY_KIB, time_cost: int = OWASP_TIME_COST) -> CryptContext:
    return CryptContext(
        schemes=["argon2"],
        argon2__type="ID",
        argon2__memory_cost=memory_kib,
        argon2__rounds=time_cost,
        argon2__parallelism=OWASP_PARALLELISM,
    )


# The hashing threads run a little "nicer" than the event loop: when both want a core, the scheduler lets the loop
# (health checks, token refreshes, profile reads, the rest of each login) go first; when the loop is idle the
# hashes still get every cycle. Raising one's own niceness needs no privilege.
HASH_THREAD_NICENESS = 5


def _yield_to_the_event_loop() -> None:
    thread_id = threading.get_native_id()
    os.setpriority(os.PRIO_PROCESS, thread_id, os.getpriority(os.PRIO_PROCESS, thread_id) + HASH_THREAD_NICENESS)


class Argon2PasswordHasher:
    """Hashes in a bounded thread pool: argon2 releases the GIL, and the event loop stays free for
    health checks and cheap requests. Memory in use is at most `concurrency` x 19 MiB.

    At most `queue_limit` jobs are queued or running; past that a request is refused at once (Overloaded)
    instead of waiting behind work it would time out on. A queued job whose request is cancelled (its
    client went away) is dropped before it starts: awaiting the job is what keeps it in the queue.
    """

    def __init__(self, context: CryptContext | None = None, concurrency: int = 2, queue_limit: int = 64) -> None:
        self._context = context or make_context()
        self.concurrency = concurrency
        self._queue_limit = queue_limit
        self._pool = ThreadPoolExecutor(
            max_workers=concurrency, thread_name_prefix="argon2", initializer=_yield_to_the_event_loop
        )
        self._lock = threading.Lock()
        self._jobs = 0  # queued + running
        self._mean_seconds = 0.05
        # Verifying unknown users against a real hash of the same cost keeps timing indistinguishable.
        self._dummy_hash = self._context.hash("dummy password for timing equalisation")

    async def hash(self, password: str) -> str:
        return await self._run(self._context.hash, password)

    async def verify(self, password: str, password_hash: str | None) -> tuple[bool, str | None]:
        stored = password_hash or self._dummy_hash
        matches, new_hash = await self._run(self._verify_and_update, password, stored)
        if password_hash is None:
            return False, None
        return matches, new_hash

    def _verify_and_update(self, password: str, stored: str) -> tuple[bool, str | None]:
        try:
            matches, new_hash = self._context.verify_and_update(password, stored)
            return bool(matches), new_hash
        except ValueError:  # a malformed stored hash never authenticates
            return False, None

    async def _run(self, work: Callable[..., T], *args: str) -> T:
        with self._lock:
            if self._jobs >= self._queue_limit:
                raise Overloaded(self._seconds_to_drain())
            self._jobs += 1
        try:
            job: Future[T] = self._pool.submit(self._timed, work, *args)
        except BaseException:
            self._job_done(None)
            raise
        job.add_done_callback(self._job_done)
        return await asyncio.wrap_future(job)  # cancelling this cancels the job if it has not started

    def _timed(self, work: Callable[..., T], *args: str) -> T:
        started = time.perf_counter()
        try:
            return work(*args)
        finally:
            elapsed = time.perf_counter() - started
            with self._lock:
                self._mean_seconds += (elapsed - self._mean_seconds) / 8

    def _job_done(self, _: object) -> None:
        with self._lock:
            self._jobs -= 1

    def _seconds_to_drain(self) -> int:
        return max(1, math.ceil(self._jobs * self._mean_seconds / self.concurrency))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
