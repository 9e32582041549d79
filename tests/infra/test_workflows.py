"""The GitHub Actions workflows: pinned, least-privileged, OIDC only, and consistent with the roles the stack makes."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.github_oidc import GithubOidcSettings
from scripts.offline_stack import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def load(name: str) -> dict[Any, Any]:
    document: dict[Any, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    return document


def triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    on: dict[str, Any] = workflow[True]  # YAML 1.1 reads the key `on` as a boolean
    return on


def steps(workflow: dict[Any, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def step_using(job: dict[str, Any], action: str) -> dict[str, Any]:
    (step,) = [s for s in job["steps"] if s.get("uses", "").startswith(action + "@")]
    return step


@pytest.mark.parametrize("name", ["checks.yml", "pull-request.yml", "deploy.yml"])
def test_least_privilege_and_pinned_actions(name: str) -> None:
    workflow = load(name)
    assert workflow["permissions"] == {}, "no default token permissions at workflow level"
    for job_name, job in workflow["jobs"].items():
        assert "permissions" in job, f"{name}:{job_name} must declare its permissions"
        assert set(job["permissions"].values()) <= {"read", "write"}
    for step in steps(workflow):
        uses = step.get("uses")
        if uses:
            assert PINNED.match(uses), f"{name}: {uses} is not pinned to a commit SHA"
        if uses and uses.startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False
    text = (WORKFLOWS / name).read_text()
    assert "aws-access-key-id" not in text and "AWS_SECRET_ACCESS_KEY" not in text


def test_checks_run_against_postgres_16_and_redis_7() -> None:
    job = load("checks.yml")["jobs"]["test"]
    postgres, redis = job["services"]["postgres"], job["services"]["redis"]
    assert postgres["image"] == "postgres:16" and redis["image"] == "redis:7"
    assert postgres["env"] == {"POSTGRES_HOST_AUTH_METHOD": "trust", "POSTGRES_DB": "test"}
    assert (postgres["ports"], redis["ports"]) == (["5432:5432"], ["6379:6379"])
    commands = " ".join(step.get("run", "") for step in job["steps"])
    assert "mypy auth_service components" in commands
    assert "make test" in commands  # ruff, import-linter, hadolint, zizmor, pytest


def test_pull_request_previews_staging_with_the_policy_pack() -> None:
    workflow = load("pull-request.yml")
    assert set(triggers(workflow)) == {"pull_request"}
    preview = workflow["jobs"]["preview"]
    assert preview["needs"] == "checks"
    assert preview["permissions"] == {"contents": "read", "id-token": "write", "pull-requests": "write"}
    pulumi = step_using(preview, "pulumi/actions")["with"]
    assert (pulumi["command"], pulumi["policyPacks"], pulumi["comment-on-pr"]) == ("preview", "policy", True)
    aws = step_using(preview, "aws-actions/configure-aws-credentials")["with"]
    assert aws["role-to-assume"] == "${{ vars.AWS_PREVIEW_ROLE_ARN }}"


def test_deploy_runs_one_at_a_time_tests_first_then_up_then_smoke() -> None:
    workflow = load("deploy.yml")
    on = triggers(workflow)
    assert on["push"] == {"branches": ["main"]}
    assert on["workflow_dispatch"]["inputs"]["ref"]["required"] is True  # redeploy an earlier commit
    assert workflow["concurrency"] == {"group": "deploy-staging", "cancel-in-progress": False}
    deploy = workflow["jobs"]["deploy"]
    assert deploy["needs"] == "checks"
    assert deploy["permissions"] == {"contents": "read", "id-token": "write"}
    names = [s.get("uses", s.get("run", "")).split("@")[0] for s in deploy["steps"]]
    assert names.index("pulumi/actions") < len(names) - 1
    up = step_using(deploy, "pulumi/actions")
    assert (up["with"]["command"], up["with"]["policyPacks"], up["id"]) == ("up", "policy", "up")
    smoke = deploy["steps"][-1]
    assert smoke["env"] == {"SERVICE_URL": "${{ steps.up.outputs.service_url }}"}
    assert smoke["run"].startswith('python scripts/smoke_test.py "$SERVICE_URL"')


def test_workflows_match_the_subjects_the_oidc_roles_trust() -> None:
    """The deploy role trusts only jobs in the `staging` environment; the preview role trusts pull requests."""
    settings = GithubOidcSettings(repository="acme/aidlc-auth", deploy_environment="staging")
    deploy = load("deploy.yml")["jobs"]["deploy"]
    assert f"repo:acme/aidlc-auth:environment:{deploy['environment']}" == settings.deploy_subject
    assert "pull_request" in triggers(load("pull-request.yml"))
    assert settings.pull_request_subject == "repo:acme/aidlc-auth:pull_request"


def test_one_state_backend_pulumi_cloud() -> None:
    """No self-managed backend anywhere: the workflows log in to Pulumi Cloud with a token, nothing else."""
    for name in ("pull-request.yml", "deploy.yml"):
        text = (WORKFLOWS / name).read_text()
        assert "cloud-url" not in text and "PULUMI_BACKEND_URL" not in text, name
        assert "PULUMI_CONFIG_PASSPHRASE" not in text, name
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    assert project["backend"] == {"url": "https://api.pulumi.com"}
    for doc in (ROOT / "README.md", *(ROOT / "docs").glob("*.md")):
        text = doc.read_text()
        assert "s3://" not in text and "PULUMI_BACKEND_URL" not in text and "awskms://" not in text, doc.name


def test_zizmor_reports_nothing() -> None:
    zizmor = Path(sys.executable).parent / "zizmor"
    result = subprocess.run([str(zizmor), "--offline", str(WORKFLOWS)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
