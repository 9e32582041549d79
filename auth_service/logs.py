"""JSON logs on stdout, one object per line, with secrets scrubbed as a last line of defence."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

_STANDARD_ATTRS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}
# Linear time on any input, because the log line can hold attacker-chosen text (a request path): no
# quantifier is nested in another, every unbounded one is possessive (it never gives back what it took), and
# each pattern starts at a literal that the repeats after it cannot run across (the JWT pattern only at the
# start of a base64url run or after a JSON escape), so every character is scanned a bounded number of times.
_SECRET_PATTERNS = [
    # JWTs, at the start of a run or after a JSON escape such as \n (the formatter scrubs the JSON text).
    re.compile(r"(?:(?<![A-Za-z0-9_-])|(?<=\\[a-z]))eyJ[A-Za-z0-9_-]{8,}+\.[A-Za-z0-9_-]{8,}+\.[A-Za-z0-9_-]*+"),
    re.compile(r"(?i)(bearer\s++)[^\s\"']++"),
    # The body up to the next dash: a key cut short (no END line) is still redacted.
    re.compile(r"-----BEGIN [A-Z ]{0,40}PRIVATE KEY-----[^-]*+(?:-----END [A-Z ]{0,40}PRIVATE KEY-----)?+"),
    re.compile(r"(?i)((?:password|passwd|secret|token|authorization)[\"']?\s*+[:=]\s*+[\"']?)[^\s\"',}]++"),
    re.compile(r"(postgres(?:ql)?(?:\+asyncpg)?://[^:/@\s]++:)[^@\s]{1,256}+(@)"),
]


def scrub(text: str) -> str:
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(
            lambda m: (
                (m.group(1) if m.groups() else "") + "[REDACTED]" + (m.group(2) if (m.lastindex or 0) >= 2 else "")
            ),
            text,
        )
    return text


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return scrub(json.dumps(entry, default=str, ensure_ascii=False))


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # RequestLogMiddleware writes the access log
