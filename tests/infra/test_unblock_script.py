"""scripts/unblock.py (`make unblock` against the stack): the ECS task it starts is the service's own, in the
service's network, running the service's unblock command; the AWS CLI is a fake that answers as documented."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from components.compute import CONTAINER_NAME
from scripts import unblock
from scripts.offline_stack import StackGraph

CLUSTER = "auth-staging-cluster-1a2b"
TASK_DEFINITION = "arn:aws:ecs:us-east-1:123456789012:task-definition/auth-staging-compute:7"
TASK = "arn:aws:ecs:us-east-1:123456789012:task/auth-staging-cluster-1a2b/0123456789abcdef0123456789abcdef"
SERVICE = {
    "serviceName": "auth-staging-service-9z8y",
    "taskDefinition": TASK_DEFINITION,
    "networkConfiguration": {
        "awsvpcConfiguration": {
            "subnets": ["subnet-private-a", "subnet-private-b"],
            "securityGroups": ["sg-ecs"],
            "assignPublicIp": "DISABLED",
        }
    },
}


def test_the_task_is_the_services_own_in_its_private_network() -> None:
    command = unblock.unblock_command("ada@example.com", None)
    arguments = unblock.run_task_arguments(CLUSTER, SERVICE, command, "ops", "us-east-1")
    assert arguments[:2] == ["ecs", "run-task"]
    options = dict(zip(arguments[2::2], arguments[3::2], strict=True))
    assert options["--task-definition"] == TASK_DEFINITION  # the revision serving now: same image and secrets
    assert options["--launch-type"] == "FARGATE" and options["--cluster"] == CLUSTER
    network = json.loads(options["--network-configuration"])["awsvpcConfiguration"]
    assert network == {"subnets": ["subnet-private-a", "subnet-private-b"], "securityGroups": ["sg-ecs"],
                       "assignPublicIp": "DISABLED"}  # fmt: skip
    (override,) = json.loads(options["--overrides"])["containerOverrides"]
    assert override["name"] == CONTAINER_NAME
    assert override["command"] == ["python", "-m", "auth_service", "unblock", "--account", "ada@example.com"]
    assert override["environment"] == [{"name": "UNBLOCK_OPERATOR", "value": "ops"}]


def test_the_container_name_and_log_stream_are_the_task_definitions(container: dict[str, Any]) -> None:
    assert container["name"] == unblock.CONTAINER_NAME
    prefix = container["logConfiguration"]["options"]["awslogs-stream-prefix"]
    assert unblock.log_stream(TASK) == f"{prefix}/{container['name']}/0123456789abcdef0123456789abcdef"


def test_the_services_network_reaches_redis_and_postgresql(staging: StackGraph) -> None:
    """The task gets the service's own subnets and security group (copied from describe-services), and that
    group is the one Redis and PostgreSQL admit: the unblock command reaches exactly what the service reaches."""
    service_groups = staging.one("aws:ecs/service:Service").plain["networkConfiguration"]["securityGroups"]
    admitted = {
        (staging.name_of(rule.plain["securityGroupId"]), int(rule.plain["fromPort"]))
        for rule in staging.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        if rule.plain.get("referencedSecurityGroupId") in service_groups
    }
    assert {("auth-staging-redis", 6379), ("auth-staging-db", 5432)} <= admitted


def _fake_aws(tmp_path: Path, exit_code: int) -> Path:
    answers = {
        "describe-services": {"services": [SERVICE]},
        "run-task": {"tasks": [{"taskArn": TASK}], "failures": []},
        "describe-tasks": {"tasks": [{"stoppedReason": "Essential container in task exited",
                                      "containers": [{"name": "auth", "exitCode": exit_code}]}]},
    }  # fmt: skip
    log = tmp_path / "calls.jsonl"
    program = tmp_path / "aws"
    program.write_text(
        "#!/usr/bin/env python3\n"
        "import json, sys\n"
        f"answers = {json.dumps(answers)!r}\n"
        f"open({str(log)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
        "verb = sys.argv[2]\n"
        "if verb == 'get-log-events':\n"
        "    print('unblocked ada@example.com: 2 limiter entries removed')\n"
        "elif verb != 'wait':\n"
        "    print(json.dumps(json.loads(answers)[verb]))\n"
    )
    program.chmod(0o755)
    return log


@pytest.mark.parametrize("exit_code", [0, 2])
def test_it_waits_for_the_task_shows_its_log_and_exits_with_its_status(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], exit_code: int
) -> None:
    calls = _fake_aws(tmp_path, exit_code)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    status = unblock.main(
        ["--cluster", CLUSTER, "--service", "svc", "--log-group", "/ecs/auth-staging-compute",
         "--account", "ada@example.com", "--operator", "ops"]
    )  # fmt: skip
    assert status == exit_code
    verbs = [json.loads(line)[1] for line in calls.read_text().splitlines()]
    assert verbs == ["describe-services", "run-task", "wait", "describe-tasks", "get-log-events"]
    assert "2 limiter entries removed" in capsys.readouterr().out


def test_it_needs_an_account_or_an_address() -> None:
    with pytest.raises(SystemExit):
        unblock.main(["--cluster", CLUSTER, "--service", "svc", "--log-group", "g"])
