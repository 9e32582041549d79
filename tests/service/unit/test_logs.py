import json
import logging
import re
from re import _constants, _parser
from typing import Any

from auth_service.logs import _SECRET_PATTERNS, JsonFormatter, scrub

JWT = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlc2lnbmF0dXJl"


def test_scrub_removes_tokens_passwords_keys_and_urls_with_credentials() -> None:
    text = scrub(
        f"auth Bearer abc.def token={JWT} password=hunter2hunter2 "
        "postgresql://aidlc_user:s3cr3t@db:5432/x -----BEGIN PRIVATE KEY-----\nMC4\n-----END PRIVATE KEY-----"
    )
    for secret in ("abc.def", JWT, "hunter2hunter2", "s3cr3t", "MC4"):
        assert secret not in text
    assert "postgresql://aidlc_user:[REDACTED]@db" in text


def test_json_formatter_emits_one_object_per_line_with_extras() -> None:
    record = logging.LogRecord("auth_service.access", logging.INFO, "x", 1, "request", None, None)
    record.request_id = "r1"
    record.status = 200
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "request" and entry["request_id"] == "r1" and entry["status"] == 200


_REPEATS = (_constants.MAX_REPEAT, _constants.MIN_REPEAT, _constants.POSSESSIVE_REPEAT)


def _repeats(pattern: re.Pattern[str]) -> list[tuple[Any, int, Any]]:
    """Every quantifier of a compiled pattern: (kind, max, nested subpattern), from the parse tree."""
    found: list[tuple[Any, int, Any]] = []

    def walk(items: Any) -> None:
        for op, arg in items:
            if op in _REPEATS:
                found.append((op, arg[1], arg[2]))
                walk(arg[2])
            elif op in (_constants.SUBPATTERN, _constants.ATOMIC_GROUP):
                walk(arg[-1])
            elif op in (_constants.ASSERT, _constants.ASSERT_NOT):
                walk(arg[1])
            elif op == _constants.BRANCH:
                for branch in arg[1]:
                    walk(branch)

    walk(_parser.parse(pattern.pattern, pattern.flags))
    return found


def test_every_scrub_pattern_is_linear_by_construction() -> None:
    """No quantifier inside a repeated group, each unbounded one possessive: backtracking cannot multiply work."""
    for pattern in _SECRET_PATTERNS:
        for kind, maximum, nested in _repeats(pattern):
            if maximum > 1:  # an optional group may hold quantifiers: it runs at most once per attempt
                assert not any(item[0] in _REPEATS for item in nested), f"nested quantifier in {pattern.pattern}"
            if maximum == _constants.MAXREPEAT:
                assert kind == _constants.POSSESSIVE_REPEAT, f"backtracking repeat in {pattern.pattern}"
            else:
                assert maximum <= 256, pattern.pattern


def test_a_jwt_is_scrubbed_after_any_delimiter_and_a_cut_key_too() -> None:
    for before in (" ", "=", "/", '"', "'", ":", "\\n", "("):
        assert JWT not in scrub(f"x{before}{JWT} y")
    cut = scrub("-----BEGIN PRIVATE KEY-----\\nMC4CAQAwBQYDK2VwBCIEI")
    assert "MC4CAQAw" not in cut


def test_a_hostile_path_is_logged_truncated_and_scrubbed() -> None:
    from auth_service.adapters.http.middleware import MAX_LOGGED_PATH, _access_fields

    path = "/" + JWT + "/" + "eyJ" * 5462  # 16 KiB: the backtracking bait of the old JWT pattern
    fields = _access_fields({"method": "GET", "path": path}, "r1", 404, 0.0)
    assert len(fields["path"]) <= MAX_LOGGED_PATH + 1 and fields["path"].endswith("…")
    record = logging.LogRecord("auth_service.access", logging.INFO, "x", 1, "request", None, None)
    record.path = fields["path"]
    line = JsonFormatter().format(record)
    assert JWT not in line and len(line) < 2 * MAX_LOGGED_PATH
