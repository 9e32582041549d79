"""`make plan` shows what a reviewer must see before a first deploy: the creation order and the settings."""

from __future__ import annotations

import pytest

from scripts.offline_stack import StackGraph
from scripts.plan import print_plan


def test_plan_prints_the_explicit_dependencies_and_the_new_settings(
    staging: StackGraph, capsys: pytest.CaptureFixture[str]
) -> None:
    print_plan(staging)
    out = capsys.readouterr().out
    lines = out.splitlines()

    def block(kind: str, name: str) -> str:
        start = next(i for i, line in enumerate(lines) if line.split()[1:3] == [kind, name])
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("  + ")), len(lines))
        return "\n".join(lines[start:end])

    assert "after: <auth-staging-igw> (InternetGateway)" in block("NatGateway", "auth-staging-nat-0")
    assert "after: <auth-staging-igw> (InternetGateway)" in block("Eip", "auth-staging-nat-0")
    assert "after: <auth-staging-igw> (InternetGateway)" in block("LoadBalancer", "auth-staging-alb")
    service = block("Service", "auth-staging-service")
    for prerequisite in (
        "<auth-staging-private-0-default> (Route)",
        "<auth-staging-private-1-default> (Route)",
        "<auth-staging-http> (Listener)",
        "<auth-staging-execution> (RolePolicy)",
    ):
        assert prerequisite in service
    task = block("TaskDefinition", "auth-staging-task")
    assert "readonlyRootFilesystem=True" in task
    assert "skipDestroy=True" in task  # a replacement keeps the old revision for rollbacks
    assert '"countNumber": 10' in block("LifecyclePolicy", "auth-staging-repo-keep-last")
    assert "mode=non-blocking, max-buffer-size=25m" in task  # a log outage cannot stall stdout
    assert "DB_PASSWORD=<auth-staging-db-password version>" in task
    assert "healthCheck.path=/health/live" in block("TargetGroup", "auth-staging-tg")
    db = block("Instance", "auth-staging-db")
    for setting in (
        "maxAllocatedStorage=100",
        'enabledCloudwatchLogsExports=["postgresql", "upgrade"]',
        "applyImmediately=True",
        "after: <auth-staging-db-postgresql-logs> (LogGroup)",
    ):
        assert setting in db
    assert "applyImmediately=True" in block("ReplicationGroup", "auth-staging-redis")
    assert "permissionsBoundary=arn:aws:iam::123456789012:policy/auth-staging-permissions-boundary" in block(
        "Role", "auth-staging-execution"
    )
