"""Cost of writing one access-log line for a hostile request path (event-loop CPU per request).

`PYTHONPATH=. python bench/log_scrub.py` prints milliseconds per log line for paths of growing length, built to make
regular expressions backtrack (`eyJeyJ…`, repeated `postgres://a:`, repeated PEM headers). Run it on two
commits to compare; nothing here is asserted (tests prove the structure, this measures it).
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable

from auth_service.adapters.http import middleware
from auth_service.logs import JsonFormatter, scrub

HOSTILE = {
    "eyJ": "eyJ",
    "postgres://a:": "postgres://a:",
    "bearer\\t": "bearer\t",
    "PEM header": "-----BEGIN PRIVATE KEY-----",
}
LENGTHS = (1024, 4096, 16384)
REPEATS = 20


def access_line_ms(path: str) -> float:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("bench.access")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    scope = {"method": "GET", "path": path}
    fields = middleware._access_fields(scope, "0" * 32, 404, time.perf_counter())
    started = time.perf_counter()
    for _ in range(REPEATS):
        logger.info("request", extra=fields)
    return (time.perf_counter() - started) * 1000 / REPEATS


def scrub_ms(text: str) -> float:
    started = time.perf_counter()
    for _ in range(REPEATS):
        scrub(text)
    return (time.perf_counter() - started) * 1000 / REPEATS


def table(title: str, measure: Callable[[str], float]) -> None:
    print(title)
    print(f"  {'path pattern':<16}" + "".join(f"{n:>12} B" for n in LENGTHS))
    for label, unit in HOSTILE.items():
        cells = [measure("/" + unit * (n // len(unit))) for n in LENGTHS]
        print(f"  {label:<16}" + "".join(f"{ms:>11.2f} ms" for ms in cells))


def main() -> None:
    table("one access-log line (path truncation + JSON + scrubbing):", access_line_ms)
    table("scrub() alone on the whole, untruncated text:", scrub_ms)


if __name__ == "__main__":
    main()
