"""Day two of a release: old task definitions stay registered (rollback targets), ECR keeps their images, the
stack exports the task definition an `up` created, and a CloudWatch Logs outage cannot freeze the service."""

from __future__ import annotations

import json
import re
from fnmatch import fnmatchcase
from typing import Any

import pytest
import yaml

from components.compute import RELEASED_TAG_PREFIX
from components.config import ComputeSettings
from components.github_oidc import StackScope, deploy_policy
from scripts.cost import Assumptions
from scripts.offline_stack import ACCOUNT, REGION, ROOT, StackGraph

TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"
OPERATIONS = ROOT / "docs" / "operations.md"


def test_a_replaced_task_definition_stays_registered_so_a_rollback_can_point_at_it(staging: StackGraph) -> None:
    # Without it the replacement deregisters the old revision, and ECS refuses to update a service to an
    # INACTIVE one: both rollback paths would fail exactly when they are needed.
    task = staging.one(TASK_DEFINITION)
    assert task.plain["skipDestroy"] is True


def test_the_stack_exports_the_task_definition_this_up_created(staging: StackGraph) -> None:
    task = staging.one(TASK_DEFINITION)
    assert staging.outputs["task_definition_arn"] == task.state["arn"]
    assert staging.one("aws:ecs/service:Service").plain["taskDefinition"] == task.state["arn"]


def test_a_log_outage_cannot_block_the_service_writing_to_stdout(container: dict[str, Any]) -> None:
    options = container["logConfiguration"]["options"]
    assert options["mode"] == "non-blocking"  # blocking (the old default) stalls every write to stdout
    size = re.fullmatch(r"(\d+)m", options["max-buffer-size"])
    assert size, options["max-buffer-size"]
    assert 4 <= int(size.group(1)) <= 64  # more than the 1m default; a small share of the task's 1 GiB


def test_ecr_keeps_the_image_of_every_revision_a_rollback_can_target(staging: StackGraph) -> None:
    """Rollback targets are revisions that served. Failed deploys push images too; were the newest N images all that
    is kept, N failed deploys in a row would expire the image of the revision serving now."""
    lifecycle = json.loads(staging.one("aws:ecr/lifecyclePolicy:LifecyclePolicy").plain["policy"])
    released, newest = sorted(lifecycle["rules"], key=lambda rule: rule["rulePriority"])
    kept = ComputeSettings().ecr_keep_images
    # An image matching a rule's tags is never expired by a lower-priority rule: the count rule cannot touch them.
    assert released["selection"] == {
        "tagStatus": "tagged",
        "tagPrefixList": [RELEASED_TAG_PREFIX],
        "countType": "imageCountMoreThan",
        "countNumber": kept,
    }
    assert newest["selection"] == {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": kept}
    # The deploy tags the image of each revision that passed (release check and smoke test), and only then.
    deploy = yaml.safe_load((ROOT / ".github" / "workflows" / "deploy.yml").read_text())["jobs"]["deploy"]
    names = [step.get("id") or step.get("name") for step in deploy["steps"]]
    marks = [step for step in deploy["steps"] if "scripts.deployment mark-released" in step.get("run", "")]
    (mark,) = [step for step in marks if "if" not in step]  # the other one: in the rollback, after its smoke test
    assert names.index("smoke") < names.index(mark.get("id") or mark["name"])
    assert mark["env"] == {"TASK_DEFINITION": "${{ steps.up.outputs.task_definition_arn }}"}
    # The manual rollback lists the newest `kept` revisions: their images are all among the newest `kept` images.
    operations = OPERATIONS.read_text()
    runbook = operations[operations.index("### A bad deploy") : operations.index("## Smoke test")]
    (listed,) = re.findall(r"list-task-definitions [^\n]*--max-items (\d+)", runbook)
    assert int(listed) == kept


def test_make_cost_prices_the_images_the_lifecycle_policy_keeps() -> None:
    # `make cost` assumes ~150 MB an image, and at most the newest N plus N released ones (2 N) are kept.
    assert Assumptions().ecr_gb == pytest.approx(0.15 * 2 * ComputeSettings().ecr_keep_images)


# Every API call scripts/deployment.py makes, and on what: the deploy role must allow each one, or the release
# check and the rollback fail in AWS only, at the moment they are needed.
DEPLOYMENT_SCRIPT_CALLS = [
    ("ecs:DescribeServices", "*"),
    ("ecs:ListServiceDeployments", "*"),
    ("ecs:DescribeServiceRevisions", "*"),
    ("ecs:DescribeTaskDefinition", "*"),
    ("ecs:RegisterTaskDefinition", "*"),
    ("ecs:UpdateService", "*"),
    ("ecr:DescribeImages", f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/auth-staging-repo-1a2b3c4"),
    ("ecr:BatchGetImage", f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/auth-staging-repo-1a2b3c4"),
    ("ecr:PutImage", f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/auth-staging-repo-1a2b3c4"),
]


@pytest.mark.parametrize(("action", "resource"), DEPLOYMENT_SCRIPT_CALLS)
def test_the_deploy_role_may_make_every_call_of_the_deployment_script(action: str, resource: str) -> None:
    statements = deploy_policy(StackScope("auth-staging", ACCOUNT, REGION))["Statement"]

    def covers(statement: dict[str, Any]) -> bool:
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        return any(fnmatchcase(action, pattern) for pattern in statement["Action"]) and any(
            fnmatchcase(resource, pattern) for pattern in resources
        )

    assert any(s["Effect"] == "Allow" and "Condition" not in s and covers(s) for s in statements)
    assert not any(s["Effect"] == "Deny" and covers(s) for s in statements)
    source = (ROOT / "scripts" / "deployment.py").read_text()
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", action.split(":")[1]).lower()
    assert f"{snake}(" in source or f'"{snake}"' in source, f"{snake} is not called: drop it from the list"


def test_the_list_names_every_call_the_deployment_script_makes() -> None:
    source = (ROOT / "scripts" / "deployment.py").read_text()
    called = set(re.findall(r"\b(?:ecs|ecr)\.([a-z_]+)\(", source)) - {"get_paginator"}
    listed = {re.sub(r"(?<!^)(?=[A-Z])", "_", action.split(":")[1]).lower() for action, _ in DEPLOYMENT_SCRIPT_CALLS}
    assert called == listed
