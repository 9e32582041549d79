"""`pulumi up` deploys only the stack file CI deploys: committed, and pushed when the branch tracks a remote."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from components.config import UncommittedStackConfig, refuse_uncommitted_stack_file

STACK_FILE = "Pulumi.staging.yaml"


def git(directory: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=directory,
        check=True,
        capture_output=True,
        timeout=30,
    )


@pytest.fixture()
def checkout(tmp_path: Path) -> Path:
    """A clone of a remote whose stack file is committed and pushed."""
    remote, work = tmp_path / "remote.git", tmp_path / "work"
    git(tmp_path, "init", "--quiet", "--bare", "--initial-branch=main", str(remote))
    git(tmp_path, "clone", "--quiet", str(remote), str(work))
    (work / STACK_FILE).write_text("config:\n  aidlc-auth:desiredCount: 2\n")
    git(work, "add", STACK_FILE)
    git(work, "commit", "--quiet", "-m", "stack file")
    git(work, "push", "--quiet", "origin", "HEAD:main")
    git(work, "branch", "--quiet", "--set-upstream-to=origin/main")
    return work


def test_a_committed_and_pushed_stack_file_deploys(checkout: Path) -> None:
    refuse_uncommitted_stack_file(checkout, "staging")


def test_a_setting_only_on_this_laptop_is_refused(checkout: Path) -> None:
    (checkout / STACK_FILE).write_text("config:\n  aidlc-auth:desiredCount: 4\n")
    with pytest.raises(UncommittedStackConfig, match="commit and push"):
        refuse_uncommitted_stack_file(checkout, "staging")


def test_a_new_untracked_stack_file_is_refused(checkout: Path) -> None:
    (checkout / "Pulumi.prod.yaml").write_text("config: {}\n")
    with pytest.raises(UncommittedStackConfig, match=r"Pulumi\.prod\.yaml"):
        refuse_uncommitted_stack_file(checkout, "prod")


def test_a_committed_but_unpushed_setting_is_refused_until_pushed(checkout: Path) -> None:
    (checkout / STACK_FILE).write_text("config:\n  aidlc-auth:desiredCount: 4\n")
    git(checkout, "commit", "--quiet", "-am", "more tasks")
    with pytest.raises(UncommittedStackConfig, match="push it"):
        refuse_uncommitted_stack_file(checkout, "staging")
    git(checkout, "push", "--quiet")
    refuse_uncommitted_stack_file(checkout, "staging")


def test_outside_a_git_checkout_there_is_nothing_to_compare(tmp_path: Path) -> None:
    (tmp_path / STACK_FILE).write_text("config: {}\n")
    refuse_uncommitted_stack_file(tmp_path, "staging")
