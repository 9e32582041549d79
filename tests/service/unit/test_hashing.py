import asyncio
import contextlib
import os
import threading

import pytest

from auth_service.adapters.security.hashing import HASH_THREAD_NICENESS, Argon2PasswordHasher, make_context
from auth_service.application.errors import Overloaded
from tests.service.hashers import BlockingContext


async def test_hashes_with_argon2id_at_owasp_parameters() -> None:
    hasher = Argon2PasswordHasher()
    stored = await hasher.hash("correct horse battery staple")
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert await hasher.verify("correct horse battery staple", stored) == (True, None)
    assert (await hasher.verify("Correct horse battery staple", stored))[0] is False


async def test_rehashes_on_login_when_parameters_are_outdated() -> None:
    weak = make_context(memory_kib=8192, time_cost=1)
    old_hash = weak.hash("correct horse battery staple")
    matches, upgraded = await Argon2PasswordHasher().verify("correct horse battery staple", old_hash)
    assert matches and upgraded is not None and upgraded.startswith("$argon2id$v=19$m=19456,t=2,p=1$")


async def test_unknown_users_verify_against_a_dummy_hash_and_never_match() -> None:
    hasher = Argon2PasswordHasher()
    assert await hasher.verify("dummy password for timing equalisation", None) == (False, None)
    assert await hasher.verify("anything", "not-a-hash") == (False, None)


class ThreadRecordingContext:
    """A real (cheap) CryptContext that notes which thread ran each hash, and that thread's niceness."""

    def __init__(self) -> None:
        self._context = make_context(memory_kib=1024, time_cost=1)
        self.threads: dict[str, int] = {}  # thread name -> its niceness while hashing

    def hash(self, password: str) -> str:
        thread = threading.current_thread()
        self.threads[thread.name] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        return self._context.hash(password)  # type: ignore[no-any-return]

    def verify_and_update(self, password: str, stored: str) -> tuple[bool, str | None]:
        return self._context.verify_and_update(password, stored)  # type: ignore[no-any-return]


async def test_hashing_runs_off_the_event_loop_in_a_bounded_pool() -> None:
    context = ThreadRecordingContext()
    hasher = Argon2PasswordHasher(context, concurrency=2)
    context.threads.clear()  # the dummy hash made in the constructor ran on this thread
    try:
        await asyncio.gather(*(hasher.hash(f"password-{i}") for i in range(6)))
    finally:
        hasher.close()
    assert threading.current_thread().name not in context.threads
    assert all(name.startswith("argon2") for name in context.threads) and 1 <= len(context.threads) <= 2


async def test_the_queue_bound_counts_queued_and_running_jobs_and_a_cancelled_job_frees_its_place() -> None:
    context = BlockingContext("blocks the only thread")
    hasher = Argon2PasswordHasher(context, concurrency=1, queue_limit=2)
    running = asyncio.create_task(hasher.hash("blocks the only thread"))
    queued = asyncio.create_task(hasher.hash("queued, then abandoned"))
    await asyncio.sleep(0)  # both are submitted when their tasks first run
    with pytest.raises(Overloaded) as refused:
        await hasher.hash("one too many")
    assert refused.value.retry_after_seconds >= 1

    queued.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await queued
    admitted = asyncio.create_task(hasher.hash("admitted in its place"))
    context.released.set()
    await asyncio.gather(running, admitted)
    hasher.close()
    assert context.started["queued, then abandoned"] == 0  # dropped before it started
    assert context.started["admitted in its place"] == 1


async def test_hashing_threads_run_nicer_than_the_event_loop() -> None:
    """When a core is contended the scheduler prefers the event loop (health checks, cheap requests)."""
    context = ThreadRecordingContext()
    hasher = Argon2PasswordHasher(context, concurrency=1)
    context.threads.clear()
    try:
        await hasher.hash("any password at all")
    finally:
        hasher.close()
    [hashing_niceness] = context.threads.values()
    loop_nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    assert hashing_niceness == loop_nice + HASH_THREAD_NICENESS
