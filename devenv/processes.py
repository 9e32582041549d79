"""Local processes a test or the benchmark starts, owns and stops by their own PID: free ports, waiting for a
port or a live service, stopping a child or a whole process group.

Shared by tests/support/servers.py and bench/; neither re-implements these.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_accepts(host: str, port: int, timeout: float) -> bool:
    """Whether something accepts a TCP connection on host:port right now."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for_port(
    port: int, timeout: float, *, host: str = "127.0.0.1", process: subprocess.Popen[bytes] | None = None
) -> None:
    """Wait until something accepts TCP connections on host:port; with `process`, give up as soon as it exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before listening on {host}:{port}")
        if port_accepts(host, port, timeout=0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout} s")


class ProcessExited(RuntimeError):
    """The process being waited for exited first."""


def wait_until_live(base_url: str, process: subprocess.Popen[bytes], timeout: float, *, interval: float) -> None:
    """Poll `base_url`/health/live until it answers 200. Raises ProcessExited if `process` exits first and
    TimeoutError after `timeout` seconds; the caller adds the process's log to the message."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ProcessExited(f"exited with {process.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base_url}/health/live", timeout=1).status_code == 200:
                return
        time.sleep(interval)
    raise TimeoutError(f"not live after {timeout:g} s")


def start_logged(
    args: list[str], *, env: dict[str, str], log_path: Path, cwd: Path, mode: str = "wb", new_session: bool = False
) -> subprocess.Popen[bytes]:
    """Start `args` with stdout and stderr going to `log_path`; with `new_session`, in a process group of its own
    (so `stop_process_group` reaches the workers it forks)."""
    with log_path.open(mode) as log:
        return subprocess.Popen(
            args, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=new_session
        )


def stop_child(process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """Stop a server we started as our child, by its own PID (SIGTERM, then SIGKILL), and reap it."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


def stop_process_group(process: subprocess.Popen[bytes], timeout: float = 25) -> None:
    """Stop the process group a child started with `new_session` leads (and only that one): SIGTERM, then
    SIGKILL after `timeout` seconds."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def stop_pid(pid: int, sig: int, timeout: float) -> None:
    """Signal a process that is not our child (a daemonised postmaster) and wait until it is gone."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.02)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
