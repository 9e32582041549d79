"""One `make bench` run: its knobs (the BENCH_* environment variables, see run.py), paths, identity and log."""

from __future__ import annotations

import os
import secrets
import string
import sys
import uuid
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
BENCH_PYTHON = REPO / ".venv-bench" / "bin" / "python"
SERVICE_PYTHON = REPO / ".venv" / "bin" / "python"
RESULTS = BENCH / "results"
CORES = os.cpu_count() or 1

DURATION = float(os.environ.get("BENCH_DURATION", "15"))
WORKERS = int(os.environ.get("BENCH_WORKERS", str(CORES)))
APPS = [a for a in os.environ.get("BENCH_APPS", "ours,ref").split(",") if a]
SCENARIOS = [s for s in os.environ.get("BENCH_SCENARIOS", "me,login,refresh,register,storm,event").split(",") if s]
EVENT_ATTENDEES = int(os.environ.get("BENCH_EVENT_ATTENDEES", "2000"))
EVENT_SECONDS = float(os.environ.get("BENCH_EVENT_SECONDS", "60"))
STORM_SECONDS = float(os.environ.get("BENCH_STORM_SECONDS", "15"))
WRK_THREADS = int(os.environ.get("BENCH_WRK_THREADS", "1"))
SEED_USERS = 64
ME_CONNECTIONS = 64
LOGIN_CONNECTIONS = 32
REFRESH_CONNECTIONS = 64
REGISTER_CONNECTIONS = 32
# Letters only: the password policy refuses one containing a piece of the email (seed-<run id>-<n>), digits too.
PASSWORD = "Bench-Marmalade-" + "".join(secrets.choice(string.ascii_letters) for _ in range(12))
RUN_ID = uuid.uuid4().hex[:8]


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)
