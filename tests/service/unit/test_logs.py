import json
import logging

from auth_service.logs import JsonFormatter, scrub

JWT = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlc2lnbmF0dXJl"


def test_scrub_removes_tokens_passwords_keys_and_urls_with_credentials() -> None:
    text = scrub(f"auth Bearer abc.def token={JWT} password=hunter2hunter2 "
                 "postgresql://aidlc_user:s3cr3t@db:5432/x -----BEGIN PRIVATE KEY-----\nMC4\n-----END PRIVATE KEY-----")
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
