"""The Makefile refuses an unsupported Python before creating a virtualenv, and the deploy wrappers stop with a
clear message when the Pulumi or AWS CLI is missing (or is not the SDK's version), naming the commands they run."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from scripts.offline_stack import ROOT

SDK_VERSION = next(
    line.split("==")[1] for line in (ROOT / "requirements.txt").read_text().splitlines() if line.startswith("pulumi==")
)


def make(*args: str, path: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MAKEFLAGS": ""}
    if path is not None:
        env["PATH"] = path
    make_binary = shutil.which("make")
    assert make_binary is not None
    return subprocess.run(
        [make_binary, "--no-print-directory", "-C", str(ROOT), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def fake_executable(directory: Path, name: str, script: str) -> Path:
    program = directory / name
    program.write_text("#!/bin/sh\n" + script)
    program.chmod(0o755)
    return program


@pytest.mark.parametrize("version", ["3.10", "3.9", "3.14", "2.7"])
def test_an_unsupported_python_is_refused_before_any_virtualenv_exists(tmp_path: Path, version: str) -> None:
    python = fake_executable(tmp_path, "python", f"echo {version}\n")
    venv = tmp_path / "venv"
    result = make(f"{venv}/.installed-stamp", f"PYTHON={python}", f"VENV={venv}")
    assert result.returncode != 0
    assert f"is Python {version}; this project supports Python 3.11-3.13" in result.stderr
    assert not venv.exists()


@pytest.mark.parametrize("version", ["3.11", "3.12", "3.13"])
def test_a_supported_python_passes_the_check(tmp_path: Path, version: str) -> None:
    python = fake_executable(tmp_path, "python", f"echo {version}\n")
    result = make("check-python", f"PYTHON={python}")
    assert result.returncode == 0, result.stderr


def test_something_that_is_not_python_is_named(tmp_path: Path) -> None:
    result = make("check-python", f"PYTHON={tmp_path / 'no-such-python'}")
    assert result.returncode != 0
    assert "is not a runnable Python. Install Python 3.11-3.13" in result.stderr


@pytest.mark.parametrize("target", ["preview", "up", "smoke", "logs", "alarms", "unblock", "destroy"])
def test_wrappers_stop_clearly_without_the_pulumi_cli(tmp_path: Path, target: str) -> None:
    result = make(target, f"PULUMI={tmp_path / 'pulumi'}")
    assert result.returncode != 0
    assert f"make {target}: needs the Pulumi CLI {SDK_VERSION}" in result.stderr
    assert "is not on PATH" in result.stderr


def test_wrappers_refuse_a_pulumi_cli_of_another_version(tmp_path: Path) -> None:
    pulumi = fake_executable(tmp_path, "pulumi", 'echo "v3.100.0"\n')
    result = make("smoke", f"PULUMI={pulumi}")
    assert result.returncode != 0
    assert f"the Pulumi CLI is v3.100.0 but the SDK is {SDK_VERSION}" in result.stderr


@pytest.mark.parametrize("target", ["logs", "alarms"])
def test_logs_and_alarms_stop_clearly_without_the_aws_cli(tmp_path: Path, target: str) -> None:
    pulumi = fake_executable(tmp_path, "pulumi", f'echo "v{SDK_VERSION}"\n')
    result = make(target, f"PULUMI={pulumi}", f"AWS={tmp_path / 'aws'}")
    assert result.returncode != 0
    assert f"make {target}: needs the AWS CLI v2" in result.stderr


@pytest.mark.parametrize(
    ("target", "commands"),
    [
        ("preview", ["pulumi preview --stack staging --policy-pack policy --diff"]),
        (
            "up",
            [
                "pulumi up --stack staging --policy-pack policy",
                "-m scripts.deployment verify --region us-east-1",
                '--task-definition "$(pulumi stack output task_definition_arn --stack staging)"',
                "smoke",
            ],
        ),
        ("smoke", ['scripts/smoke_test.py "$(pulumi stack output service_url --stack staging)" --wait 300']),
        ("logs", ['aws logs tail "$(pulumi stack output log_group_name --stack staging)" --region us-east-1']),
        (
            "alarms",
            [
                '-m scripts.alarms --prefix "auth-staging" --region us-east-1',
                '--dashboard-url "$(pulumi stack output dashboard_url --stack staging)"',
            ],
        ),
        ("destroy", ["pulumi destroy --stack staging"]),
    ],
)
def test_what_each_wrapper_runs(target: str, commands: list[str]) -> None:
    result = make("-n", target)
    assert result.returncode == 0, result.stderr
    for command in commands:
        assert command in result.stdout, result.stdout
    assert result.stdout.index("command -v pulumi") < result.stdout.index(commands[0])  # the CLI check first


def test_up_is_followed_by_the_smoke_test_and_only_then_tags_the_release() -> None:
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile[makefile.index("\nup:") :].split("\n\n")[0]
    smoke = recipe.index("$(MAKE) smoke")
    assert "scripts.deployment mark-released" in recipe[smoke:]  # the lifecycle policy keeps released images
    assert recipe.rstrip().endswith(
        '--task-definition "$$($(PULUMI) stack output task_definition_arn --stack $(STACK))"'
    )


def test_up_fails_unless_the_service_runs_the_task_definition_it_created() -> None:
    """A circuit-breaker rollback leaves `pulumi up` green; the release check after it is not."""
    recipe = make("-n", "up").stdout
    up = recipe.index("pulumi up --stack staging")
    verify = recipe.index("scripts.deployment verify")
    assert up < verify < recipe.index("smoke")
    assert '--cluster "$(pulumi stack output cluster_name --stack staging)"' in recipe[verify:]
    assert '--service "$(pulumi stack output service_name --stack staging)"' in recipe[verify:]


def test_another_stack_is_a_variable_away() -> None:
    assert "pulumi destroy --stack acme/staging" in make("-n", "destroy", "STACK=acme/staging").stdout
    # the alarms' name prefix is auth-<stack name>, without the organization
    assert '--prefix "auth-staging"' in make("-n", "alarms", "STACK=acme/staging").stdout


def test_unblock_runs_the_services_own_task_against_the_stack() -> None:
    result = make("-n", "unblock", "ACCOUNT=ada@example.com")
    assert result.returncode == 0, result.stderr
    assert "-m scripts.unblock --region us-east-1 --account 'ada@example.com'" in result.stdout
    for output in ("cluster_name", "service_name", "log_group_name"):
        assert f"$(pulumi stack output {output} --stack staging)" in result.stdout
    assert result.stdout.index("command -v aws") < result.stdout.index("scripts.unblock")  # the CLIs first


def test_unblock_locally_lifts_the_throttle_of_make_runs_service() -> None:
    result = make("-n", "unblock", "IP=198.51.100.7", "LOCAL=1")
    assert result.returncode == 0, result.stderr
    assert "-m devenv unblock  --ip '198.51.100.7'" in result.stdout
    assert "pulumi" not in result.stdout


def test_unblock_names_what_it_needs() -> None:
    result = make("unblock", "LOCAL=1")
    assert result.returncode == 2
    assert "make unblock: name ACCOUNT=<email> and/or IP=<address>" in result.stderr
