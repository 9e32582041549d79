"""`make unblock ACCOUNT=<email> | IP=<address>` against the stack: lift a throttle in the deployed Redis.

Redis lives in private subnets and only the service's tasks may reach it, so the command runs where the service
runs: an ECS task of the service's own task definition (its image, environment and secrets), in the service's
own subnets and security group, with the container's command replaced by `python -m auth_service unblock ...`.
Then it waits for the task to stop, prints the task's log lines and exits with the container's exit status.
AWS CLI only (no SDK to install).

    python -m scripts.unblock --cluster C --service S --log-group G [--region R] (--account EMAIL | --ip ADDRESS)

What the caller's AWS identity needs (docs/operations.md, "Lift a block"): ecs:DescribeServices on the service,
ecs:RunTask on its task definition, iam:PassRole on the task's execution and task roles (to ecs-tasks.amazonaws.com),
ecs:DescribeTasks, and logs:GetLogEvents on the service's log group.
"""

from __future__ import annotations

import argparse
import getpass
import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

CONTAINER_NAME = "auth"  # components/compute.py; its awslogs stream prefix is the same name
STARTED_BY = "make-unblock"


class AwsCliError(RuntimeError):
    pass


def unblock_command(account: str | None, ip: str | None) -> list[str]:
    command = ["python", "-m", "auth_service", "unblock"]
    if account:
        command += ["--account", account]
    if ip:
        command += ["--ip", ip]
    return command


def run_task_arguments(
    cluster: str, service: dict[str, Any], command: Sequence[str], operator: str, region: str
) -> list[str]:
    """`aws ecs run-task` of the service's task definition in the service's network, with the command replaced."""
    network = service["networkConfiguration"]["awsvpcConfiguration"]
    overrides = {
        "containerOverrides": [
            {
                "name": CONTAINER_NAME,
                "command": list(command),
                "environment": [{"name": "UNBLOCK_OPERATOR", "value": operator}],
            }
        ]
    }
    return [
        "ecs",
        "run-task",
        "--cluster",
        cluster,
        "--task-definition",
        service["taskDefinition"],
        "--launch-type",
        "FARGATE",
        "--count",
        "1",
        "--network-configuration",
        json.dumps({"awsvpcConfiguration": {**network, "assignPublicIp": "DISABLED"}}),
        "--overrides",
        json.dumps(overrides),
        "--started-by",
        STARTED_BY,
        "--region",
        region,
        "--output",
        "json",
    ]


def log_stream(task_arn: str) -> str:
    """awslogs names a task's stream <prefix>/<container>/<task id>."""
    return f"{CONTAINER_NAME}/{CONTAINER_NAME}/{task_arn.rsplit('/', 1)[-1]}"


def exit_status(describe_tasks: dict[str, Any]) -> tuple[int, str]:
    """(the container's exit code, why the task stopped) from `aws ecs describe-tasks`."""
    (task,) = describe_tasks["tasks"]
    container = next(c for c in task["containers"] if c["name"] == CONTAINER_NAME)
    code = container.get("exitCode")
    reason = container.get("reason") or task.get("stoppedReason", "")
    return (1 if code is None else int(code)), reason


def _aws(arguments: Sequence[str]) -> str:
    aws = shutil.which("aws")
    if aws is None:
        raise AwsCliError("the AWS CLI v2 is not on PATH")
    done = subprocess.run([aws, *arguments], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise AwsCliError(f"aws {' '.join(arguments[:2])}: {done.stderr.strip()}")
    return done.stdout


def unblock(args: argparse.Namespace) -> int:
    region = ["--region", args.region]
    described = json.loads(
        _aws(["ecs", "describe-services", "--cluster", args.cluster, "--services", args.service, *region])
    )
    (service,) = described["services"]
    command = unblock_command(args.account, args.ip)
    started = json.loads(_aws(run_task_arguments(args.cluster, service, command, args.operator, args.region)))
    if started.get("failures") or not started.get("tasks"):
        raise AwsCliError(f"run-task started nothing: {started.get('failures')}")
    task_arn = started["tasks"][0]["taskArn"]
    print(f"running {' '.join(command)} as {task_arn} ...", flush=True)
    _aws(["ecs", "wait", "tasks-stopped", "--cluster", args.cluster, "--tasks", task_arn, *region])
    code, reason = exit_status(
        json.loads(_aws(["ecs", "describe-tasks", "--cluster", args.cluster, "--tasks", task_arn, *region]))
    )
    events = _aws(
        [
            "logs",
            "get-log-events",
            "--log-group-name",
            args.log_group,
            "--log-stream-name",
            log_stream(task_arn),
            "--query",
            "events[].message",
            "--output",
            "text",
            *region,
        ]
    )
    print(events.strip())
    if code != 0:
        print(f"the unblock task failed (exit {code}): {reason}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.unblock", description=__doc__.split("\n\n")[0])
    parser.add_argument("--cluster", required=True)
    parser.add_argument("--service", required=True)
    parser.add_argument("--log-group", required=True)
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--account", help="the account's email")
    parser.add_argument("--ip", help="the client address")
    parser.add_argument("--operator", default=getpass.getuser(), help="recorded in the audit trail")
    args = parser.parse_args(argv)
    if not (args.account or args.ip):
        parser.error("name ACCOUNT=<email> and/or IP=<address>")
    try:
        return unblock(args)
    except AwsCliError as exc:
        print(f"make unblock: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
