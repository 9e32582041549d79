"""CI cannot go green by skipping: a test whose required tool is missing fails when `CI` is set.

Locally (no `CI`) such a test still skips, with the reason printed. Every skip in tests/ goes through the one
helper that makes that choice, so a new skip site cannot quietly bypass it.
"""

from __future__ import annotations

import re

import pytest

from scripts.offline_stack import ROOT
from tests.support import servers

SKIP_CALL = re.compile(r"pytest\.skip\(|pytest\.importorskip\(|pytest\.mark\.skip(if)?\b|unittest\.skip")


def test_a_missing_tool_fails_when_ci_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"no redis-server binary.*CI is set"):
        servers.skip_or_fail_in_ci("no redis-server binary (/usr/bin/redis-server)")


@pytest.mark.parametrize("ci", [None, "", "false", "0"])
def test_a_missing_tool_skips_locally_with_the_reason_printed(
    ci: str | None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.skip.Exception, match="no redis-server binary"):
        servers.skip_or_fail_in_ci("no redis-server binary")
    assert "SKIPPED: no redis-server binary" in capsys.readouterr().out


def test_every_skip_in_the_tests_goes_through_the_helper() -> None:
    helper = ROOT / "tests" / "support" / "servers.py"
    this_file = ROOT / "tests" / "infra" / "test_ci_cannot_skip.py"
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sorted((ROOT / "tests").rglob("*.py"))
        if path not in (helper, this_file)
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if SKIP_CALL.search(line)
    ]
    assert offenders == [], "use tests.support.servers.skip_or_fail_in_ci instead:\n" + "\n".join(offenders)
