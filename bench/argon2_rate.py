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


def _worker(args: tuple[str, float, float]) -> int:
    from argon2 import PasswordHasher, Type

    operation, start_at, seconds = args
    hasher = PasswordHasher(time_cost=TIME_COST, memory_cost=MEMORY_KIB, parallelism=PARALLELISM, type=Type.ID)
    stored = hasher.hash(PASSWORD)
    while time.time() < start_at:
        time.sleep(0.001)
    done = 0
    deadline = start_at + seconds
    while time.time() < deadline:
        if operation == "hash":
            hasher.hash(PASSWORD)
        else:
            hasher.verify(stored, PASSWORD)
        done += 1
    return done


def measure(processes: int, seconds: float) -> dict[str, float]:
    result: dict[str, float] = {"processes": processes, "seconds": seconds}
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        for operation in ("hash", "verify"):
            start_at = time.time() + 1.0  # every process has started and warmed up
            counts = pool.map(_worker, [(operation, start_at, seconds)] * processes)
            result[f"{operation}_per_s"] = round(sum(counts) / seconds, 1)
    result["verify_ms_per_core"] = round(1000 * processes / result["verify_per_s"], 2)
    return result


if __name__ == "__main__":
    print(json.dumps(measure(int(sys.argv[1]), float(sys.argv[2]))))
