"""CPU accounting from /proc: cores used per group of processes (each app's tree, PostgreSQL, Redis, the
machine), and waiting for a quiet machine before a measurement."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from bench.config import log

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _proc_stats() -> dict[int, tuple[int, str, int]]:
    """pid -> (ppid, comm, utime+stime ticks) for every process."""
    stats: dict[int, tuple[int, str, int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        stats[int(entry)] = (int(fields[1]), comm, int(fields[11]) + int(fields[12]))
    return stats


def _machine_ticks() -> tuple[int, int]:
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values[:8]) - idle, idle


@dataclass
class CpuSample:
    at: float
    busy: int
    idle: int
    groups: dict[str, int]


class CpuMeter:
    """CPU seconds per group of processes: each app's process tree, PostgreSQL, Redis, everything else."""

    def __init__(self) -> None:
        self.roots: dict[str, int] = {}

    def sample(self) -> CpuSample:
        stats = _proc_stats()
        children: dict[int, list[int]] = {}
        for pid, (ppid, _, _) in stats.items():
            children.setdefault(ppid, []).append(pid)
        groups: dict[str, int] = {}
        claimed: set[int] = set()
        for name, root in self.roots.items():
            stack, total = [root], 0
            while stack:
                pid = stack.pop()
                if pid in stats and pid not in claimed:
                    claimed.add(pid)
                    total += stats[pid][2]
                    stack.extend(children.get(pid, []))
            groups[name] = total
        groups["postgres"] = sum(t for pid, (_, c, t) in stats.items() if c == "postgres" and pid not in claimed)
        groups["redis"] = sum(t for pid, (_, c, t) in stats.items() if c.startswith("redis-server"))
        busy, idle = _machine_ticks()
        return CpuSample(time.monotonic(), busy, idle, groups)

    @staticmethod
    def cores_used(before: CpuSample, after: CpuSample) -> dict[str, float]:
        seconds = after.at - before.at
        used = {
            name: (after.groups.get(name, 0) - ticks) / CLOCK_TICKS / seconds for name, ticks in before.groups.items()
        }
        used["machine_busy"] = (after.busy - before.busy) / CLOCK_TICKS / seconds
        return {k: round(v, 2) for k, v in used.items()}


def wait_for_quiet(meter: CpuMeter, limit_cores: float = 0.3, patience: float = 60.0) -> float:
    """Other people's builds on this machine skew every number: wait (bounded) until it is nearly idle."""
    deadline = time.monotonic() + float(os.environ.get("BENCH_QUIET_PATIENCE", patience))
    while True:
        before = meter.sample()
        time.sleep(1.0)
        busy = CpuMeter.cores_used(before, meter.sample())["machine_busy"]
        if busy <= limit_cores or time.monotonic() > deadline:
            return busy
        log(f"machine busy ({busy:.2f} cores used by other processes); waiting for it to settle")
