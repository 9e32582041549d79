"""SIGTERM (how ECS stops a task) lets in-flight requests finish and exits cleanly."""

from __future__ import annotations

import signal
import threading
import time
import uuid

import httpx

from tests.support.app import STRONG_PASSWORD
from tests.support.servers import ServiceProcess


def test_sigterm_drains_in_flight_requests_and_exits_zero(
    database_url: str, redis_base_url: str, signing_key: str
) -> None:
    service = ServiceProcess(
        {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_base_url,
            "JWT_PRIVATE_KEY": signing_key,
            "REDIS_KEY_PREFIX": f"test-shutdown-{uuid.uuid4().hex[:8]}:",
            "HASH_CONCURRENCY": "1",
        }
    ).start()
    try:
        statuses: list[int] = []
        # Connections opened beforehand, so every request is on the wire before the signal.
        clients = [httpx.Client(base_url=service.base_url, timeout=30) for _ in range(8)]
        for client in clients:
            assert client.get("/health/live").status_code == 200

        def register(client: httpx.Client) -> None:
            response = client.post(
                "/auth/register",
                json={
                    "email": f"drain-{uuid.uuid4().hex[:12]}@example.com",
                    "password": STRONG_PASSWORD,
                    "display_name": "Drain",
                },
            )
            statuses.append(response.status_code)

        # Eight argon2 hashes on one hashing thread take 150 ms or more: most are still queued at SIGTERM.
        threads = [threading.Thread(target=register, args=(client,)) for client in clients]
        for thread in threads:
            thread.start()
        time.sleep(0.1)
        assert service.process is not None
        service.process.send_signal(signal.SIGTERM)
        for thread in threads:
            thread.join(timeout=30)
        # uvicorn re-raises the signal once its graceful shutdown is complete, so the exit status names it.
        assert service.process.wait(timeout=30) in (0, -signal.SIGTERM)
        assert statuses == [201] * 8, statuses
        log = service.output()
        assert log.index('"Shutting down"') < log.index("Application shutdown complete")
        for client in clients:
            client.close()
    finally:
        service.close()
