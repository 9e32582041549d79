"""How much CPU this process really has: the CPUs it may run on, capped by a cgroup CPU quota (a container limit,
e.g. a 0.5 vCPU Fargate task), and from that how many argon2 threads each web worker should run."""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_SELF_CGROUP = Path("/proc/self/cgroup")


def available_cpus(cgroup_root: Path = CGROUP_ROOT, proc_self_cgroup: Path = PROC_SELF_CGROUP) -> float:
    """min(CPUs in the affinity mask, the tightest CPU quota on this process's cgroup or any ancestor)."""
    cpus = float(len(os.sched_getaffinity(0)))
    quota = cgroup_cpu_quota(cgroup_root, proc_self_cgroup)
    return min(cpus, quota) if quota is not None else cpus


def hashing_threads_per_worker(cpus: float, web_workers: int) -> int:
    """One argon2 thread per whole CPU of the worker's share, at least one. argon2 is CPU-bound: a thread beyond
    the share adds no throughput, only makes the event loop wait for a core (and 19 MiB of memory each)."""
    return max(1, math.floor(cpus / max(1, web_workers)))


def cgroup_cpu_quota(cgroup_root: Path = CGROUP_ROOT, proc_self_cgroup: Path = PROC_SELF_CGROUP) -> float | None:
    """The tightest CPU quota (in CPUs) visible from this process, or None when there is none.

    cgroup v2 keeps it in `cpu.max` ("<quota> <period>" or "max <period>"), v1 in `cpu.cfs_quota_us` (-1 = none)
    and `cpu.cfs_period_us`. Limits set on a parent cgroup bind too, so every ancestor up to the mount is read.
    """
    quotas = [
        q for directory in _cgroup_directories(cgroup_root, proc_self_cgroup) if (q := _quota_in(directory)) is not None
    ]
    return min(quotas) if quotas else None


def _cgroup_directories(cgroup_root: Path, proc_self_cgroup: Path) -> list[Path]:
    try:
        lines = proc_self_cgroup.read_text().splitlines()
    except OSError:
        lines = []
    mounts: list[tuple[Path, str]] = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":  # cgroup v2 unified hierarchy
            mounts.append((cgroup_root, path))
        elif "cpu" in controllers.split(","):
            for name in (controllers, "cpu", "cpu,cpuacct"):
                if (cgroup_root / name).is_dir():
                    mounts.append((cgroup_root / name, path))
                    break
    if not mounts:
        mounts = [(cgroup_root, "/"), (cgroup_root / "cpu", "/")]
    directories: list[Path] = []
    for mount, path in mounts:
        parts = [p for p in path.split("/") if p]
        # In a container the cgroup namespace makes its own cgroup the mount's root, so also read the root.
        for depth in range(len(parts), -1, -1):
            directory = mount.joinpath(*parts[:depth])
            if directory not in directories:
                directories.append(directory)
    return directories


def _quota_in(directory: Path) -> float | None:
    try:
        quota, period = (directory / "cpu.max").read_text().split()
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota_us = int((directory / "cpu.cfs_quota_us").read_text())
        period_us = int((directory / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota_us / period_us if quota_us > 0 and period_us > 0 else None
