"""The physical limit for logins: raw argon2id hash and verify rates, one process per core, nothing else.

`python bench/argon2_rate.py PROCESSES SECONDS` prints JSON. Same library (argon2-cffi) and the same
parameters as the service (m=19456 KiB, t=2, p=1).
"""

from __future__ import annotations

import json
import multiprocessing
import sys
import time

MEMORY_KIB = 19456
TIME_COST = 2
PARALLELISM = 1
PASSWORD = "Gorilla-Marmalade-Tundra-42"


def _worker(args: tuple[str, float, float]) -> tuple[int, float]:
    from argon2 import PasswordHasher, Type

    operation, start_at, seconds = args
    hasher = PasswordHasher(time_cost=TIME_COST, memory_cost=MEMORY_KIB, parallelism=PARALLELISM, type=Type.ID)
    stored = hasher.hash(PASSWORD)
    while time.time() < start_at:
        time.sleep(0.001)
    done = 0
    cpu_started = time.process_time()
    deadline = start_at + seconds
    while time.time() < deadline:
        if operation == "hash":
            hasher.hash(PASSWORD)
        else:
            hasher.verify(stored, PASSWORD)
        done += 1
    return done, time.process_time() - cpu_started


def measure(processes: int, seconds: float) -> dict[str, float]:
    result: dict[str, float] = {"processes": processes, "seconds": seconds}
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        for operation in ("hash", "verify"):
            start_at = time.time() + 1.0  # every process has started and warmed up
            outcomes = pool.map(_worker, [(operation, start_at, seconds)] * processes)
            done = sum(n for n, _ in outcomes)
            result[f"{operation}_per_s"] = round(done / seconds, 1)
            # CPU time per operation: what one fully available core does, even when others share the machine.
            result[f"{operation}_cpu_ms"] = round(1000 * sum(cpu for _, cpu in outcomes) / done, 2)
            result[f"{operation}_per_s_per_core"] = round(1000 / result[f"{operation}_cpu_ms"], 1)
    return result


if __name__ == "__main__":
    print(json.dumps(measure(int(sys.argv[1]), float(sys.argv[2]))))
