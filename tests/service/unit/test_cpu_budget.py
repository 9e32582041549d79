"""Hashing threads sized from the CPUs the process really has: cgroup v1/v2 quota files on disk."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from auth_service.adapters.security.cpu_budget import (
    available_cpus,
    cgroup_cpu_quota,
    hashing_threads_per_worker,
)
from auth_service.bootstrap import hash_concurrency
from auth_service.settings import Settings


def _write(path: Path, text: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    for name, content in (line.split("=", 1) for line in text.split(";")):
        (path / name).write_text(content + "\n")


def test_cgroup_v2_half_a_cpu_quota_as_on_a_half_vcpu_fargate_task(tmp_path: Path) -> None:
    _write(tmp_path / "cgroup", "cpu.max=50000 100000")
    (tmp_path / "self").write_text("0::/\n")
    assert cgroup_cpu_quota(tmp_path / "cgroup", tmp_path / "self") == 0.5
    assert available_cpus(tmp_path / "cgroup", tmp_path / "self") == 0.5
    assert hashing_threads_per_worker(0.5, web_workers=1) == 1


def test_cgroup_v2_without_a_quota_leaves_the_affinity_mask(tmp_path: Path) -> None:
    _write(tmp_path / "cgroup", "cpu.max=max 100000")
    (tmp_path / "self").write_text("0::/\n")
    assert cgroup_cpu_quota(tmp_path / "cgroup", tmp_path / "self") is None
    assert available_cpus(tmp_path / "cgroup", tmp_path / "self") == len(os.sched_getaffinity(0))


def test_a_parent_cgroup_quota_binds_the_child(tmp_path: Path) -> None:
    _write(tmp_path / "cgroup" / "ecstasks.slice", "cpu.max=100000 100000")
    _write(tmp_path / "cgroup" / "ecstasks.slice" / "task.slice", "cpu.max=max 100000")
    _write(tmp_path / "cgroup" / "ecstasks.slice" / "task.slice" / "container", "cpu.max=max 100000")
    (tmp_path / "self").write_text("0::/ecstasks.slice/task.slice/container\n")
    assert cgroup_cpu_quota(tmp_path / "cgroup", tmp_path / "self") == 1.0


def test_cgroup_v1_cfs_quota(tmp_path: Path) -> None:
    _write(tmp_path / "cgroup" / "cpu,cpuacct" / "ecs" / "task", "cpu.cfs_quota_us=150000;cpu.cfs_period_us=100000")
    (tmp_path / "self").write_text("4:memory:/ecs/task\n3:cpu,cpuacct:/ecs/task\n")
    assert cgroup_cpu_quota(tmp_path / "cgroup", tmp_path / "self") == 1.5


def test_cgroup_v1_unlimited_quota_is_no_quota(tmp_path: Path) -> None:
    _write(tmp_path / "cgroup" / "cpu", "cpu.cfs_quota_us=-1;cpu.cfs_period_us=100000")
    (tmp_path / "self").write_text("2:cpu:/\n")
    assert cgroup_cpu_quota(tmp_path / "cgroup", tmp_path / "self") is None


def test_no_cgroup_files_at_all_means_no_quota(tmp_path: Path) -> None:
    assert cgroup_cpu_quota(tmp_path / "missing", tmp_path / "missing-self") is None


@pytest.mark.parametrize(
    ("cpus", "workers", "threads"),
    [(0.5, 1, 1), (1.0, 1, 1), (2.0, 2, 1), (2.0, 1, 2), (4.0, 2, 2), (3.0, 2, 1), (16.0, 4, 4)],
)
def test_one_thread_per_whole_cpu_of_the_workers_share(cpus: float, workers: int, threads: int) -> None:
    assert hashing_threads_per_worker(cpus, workers) == threads


def test_hash_concurrency_setting_overrides_the_derived_default() -> None:
    assert hash_concurrency(Settings(db_host="h", hash_concurrency=3, web_concurrency=8)) == 3
    derived = hash_concurrency(Settings(db_host="h", web_concurrency=1))
    assert derived == hashing_threads_per_worker(available_cpus(), 1)
