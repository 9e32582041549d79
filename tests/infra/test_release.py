"""Day two of a release: old task definitions stay registered (rollback targets), ECR keeps their images, the
stack exports the task definition an `up` created, and a CloudWatch Logs outage cannot freeze the service."""

from __future__ import annotations

import json
import re
from typing import Any

from components.config import ComputeSettings
from scripts.offline_stack import ROOT, StackGraph

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


def test_ecr_keeps_an_image_for_every_revision_the_rollback_runbook_offers(staging: StackGraph) -> None:
    lifecycle = json.loads(staging.one("aws:ecr/lifecyclePolicy:LifecyclePolicy").plain["policy"])
    (rule,) = lifecycle["rules"]
    kept = rule["selection"]["countNumber"]
    assert kept == ComputeSettings().ecr_keep_images
    # Each revision has at most one new image, so the newest `kept` images cover the newest `kept` revisions: the
    # manual rollback lists exactly those, no older revision whose image may be gone.
    operations = OPERATIONS.read_text()
    runbook = operations[operations.index("### A bad deploy") : operations.index("## Smoke test")]
    (listed,) = re.findall(r"list-task-definitions [^\n]*--max-items (\d+)", runbook)
    assert int(listed) == kept
