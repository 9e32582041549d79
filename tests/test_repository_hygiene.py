"""The repository's habits, checked: pre-commit runs `make lint`; `make lint` checks the formatting and
type-checks every Python file; every tracked text file speaks of the repository itself (no paths outside it, no
references to the tracker's tickets, no narration of who asked for what); every repository path a Markdown file
cites exists."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]

# Each pattern is written so that this file does not match itself.
OUTSIDE_THE_REPOSITORY = re.compile(r"\.\./shared|/wor[k]/")
TRACKER_REFERENCE = re.compile(
    r"\bissues?\s*#?\d+|\b(?:this|the|that) issue\b|\b(?:PR|pull request)\s*#\d+", re.IGNORECASE
)
# Who asked for what, not the service's users ("the user's row lock", "every session of the user" are fine).
NARRATION = re.compile(
    r"\bthe user (?:chose|chooses|asked|asks|wants|wanted|prefers|preferred|decided|requested|insisted)\b"
    r"|\bthe user's (?:choice|request|decision|preference|wish|instructions?)\b"
    r"|\bas (?:requested|asked) by the user\b",
    re.IGNORECASE,
)


def tracked_text_files() -> dict[str, str]:
    listing = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
    texts = {}
    for name in listing.stdout.decode().split("\0"):
        path = ROOT / name
        if not name or not path.is_file():  # deleted in the work tree, not yet committed
            continue
        content = path.read_bytes()
        if b"\0" not in content:
            texts[name] = content.decode("utf-8", errors="replace")
    return texts


def occurrences(pattern: re.Pattern[str]) -> list[str]:
    return [
        f"{name}:{number}: {line.strip()}"
        for name, text in tracked_text_files().items()
        for number, line in enumerate(text.splitlines(), start=1)
        if pattern.search(line)
    ]


def test_the_scan_sees_the_files_it_is_meant_to() -> None:
    names = set(tracked_text_files())
    expected = {
        "Makefile",
        "README.md",
        "pyproject.toml",
        ".ci/run",
        "auth_service/Dockerfile",
        ".pre-commit-config.yaml",
        "tests/test_repository_hygiene.py",
    }
    assert expected <= names
    assert any(name.startswith(".github/workflows/") for name in names)


def test_no_reference_points_outside_the_repository() -> None:
    assert occurrences(OUTSIDE_THE_REPOSITORY) == []


def test_no_reference_to_the_issue_tracker() -> None:
    assert occurrences(TRACKER_REFERENCE) == []


def test_no_narration_of_who_asked_for_what() -> None:
    assert occurrences(NARRATION) == []


def spelled(sample: str) -> str:
    """The samples below carry underscores so that this file does not match itself; they are removed here."""
    return sample.replace("_", "")


def test_the_patterns_catch_what_they_are_for() -> None:
    for path in ("see ../_shared/notes/linters.md", "/_work/main/README.md"):
        assert OUTSIDE_THE_REPOSITORY.search(spelled(path)), path
    for reference in ("_issue 12", "_Issue #7", "_issues 3 and 4", "as the _issue says", "_PR #31"):
        assert TRACKER_REFERENCE.search(spelled(reference)), reference
    for citation in ("pulumi/pulumi-aws#2039", "UTS #46", "PKCS#8", "issues nothing", "def issue(self)"):
        assert not TRACKER_REFERENCE.search(citation), citation
    for narration in ("TLS is off because the user _chose so", "at the user's _request"):
        assert NARRATION.search(spelled(narration)), narration
    assert not NARRATION.search("under the user's row lock")


# --------------------------------------------------------------------------------------- make lint and hooks


def lint_recipe() -> list[str]:
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^lint:.*\n((?:\t.*\n)+)", makefile, flags=re.MULTILINE)
    assert recipe, "the Makefile has no lint target"
    return [line.strip() for line in recipe.group(1).splitlines()]


def test_pre_commit_runs_make_lint() -> None:
    config: dict[str, Any] = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    hooks = [hook for repo in config["repos"] if repo["repo"] == "local" for hook in repo["hooks"]]
    (lint,) = [hook for hook in hooks if hook["entry"] == "make lint"]
    assert lint["language"] == "system"
    assert lint["pass_filenames"] is False


def test_make_lint_checks_the_formatting() -> None:
    assert "$(BIN)/ruff format --check ." in lint_recipe()


def test_make_lint_type_checks_every_python_file_strictly() -> None:
    mypy = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    assert mypy["strict"] is True
    invocations = [line.split()[1:] for line in lint_recipe() if line.split()[0] == "$(BIN)/mypy"]
    assert [] in invocations, "make lint runs mypy on pyproject's `files`"
    checked = [Path(path) for path in [*mypy["files"], *(path for paths in invocations for path in paths)]]
    python_files = [Path(name) for name in tracked_text_files() if name.endswith(".py")]
    unchecked = [str(file) for file in python_files if not any(file.is_relative_to(path) for path in checked)]
    assert unchecked == []


# --------------------------------------------------------------------------- docs cite what the repository has

CODE_SPAN = re.compile(r"`([^`\s]+)`")
RELATIVE_LINK = re.compile(r"\]\((?![a-z]+:|#)([^)\s]+)\)")
PLACEHOLDER = re.compile(r"[<*{$]")


def is_ignored(path: str) -> bool:
    """Output of a local run (bench/results/...): cited as evidence, never committed."""
    return subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT).returncode == 0


def names_something(citation: str) -> bool:
    """A path that exists, or `dir/module.name` where dir/module.py defines name."""
    path = citation.split("#")[0].rstrip("/")
    if (ROOT / path).exists() or is_ignored(path):
        return True
    module, _, name = path.rpartition(".")
    source = ROOT / f"{module}.py"
    return bool(name) and source.is_file() and re.search(rf"\b(?:def|class) {name}\b", source.read_text()) is not None


def missing_citations(doc: str, text: str, top_level: set[str]) -> list[str]:
    """Repository paths a Markdown file cites in code spans (`tests/x.py`) or relative links that do not exist."""
    missing = []
    for number, line in enumerate(text.splitlines(), start=1):
        for span in CODE_SPAN.findall(line):
            citation = span.rstrip(".,:;)")
            cites_the_repository = "/" in citation and citation.split("/")[0] in top_level
            if cites_the_repository and not PLACEHOLDER.search(citation) and not names_something(citation):
                missing.append(f"{doc}:{number}: {citation}")
        for link in RELATIVE_LINK.findall(line):
            target = (ROOT / doc).parent / link.split("#")[0]
            if not target.exists():
                missing.append(f"{doc}:{number}: {link}")
    return missing


def test_every_repository_path_the_docs_cite_exists() -> None:
    files = tracked_text_files()
    top_level = {name.split("/")[0] for name in files if "/" in name}
    docs = {name: text for name, text in files.items() if name.endswith(".md")}
    assert "docs/infra.md" in docs and "README.md" in docs
    assert [miss for doc, text in docs.items() for miss in missing_citations(doc, text, top_level)] == []


def test_the_citation_check_catches_what_it_is_for() -> None:
    top_level = {"auth_service", "tests", "docs", "bench"}
    text = "\n".join(
        [
            "`auth_service/application/common.py` and `tests/support/servers.no_such_helper`",  # gone
            "`auth_service/application/sessions.py`, `tests/support/servers.skip_or_fail_in_ci`",  # there
            "`tests/<folder>`, `docs/*.md`, `application/problem+json`, `bench/results/20261125T231952Z.json`",
            "[the runbook](docs/no-such-runbook.md), [infra](docs/infra.md#ci-identity), [web](https://example.com)",
        ]
    )
    assert missing_citations("README.md", text, top_level) == [
        "README.md:1: auth_service/application/common.py",
        "README.md:1: tests/support/servers.no_such_helper",
        "README.md:4: docs/no-such-runbook.md",
    ]
