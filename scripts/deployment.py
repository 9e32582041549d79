"""What the ECS service really runs, judged from `DescribeServices` (boto3): the deploy workflow and `make up` use it.

`wait_for_steady_state` (and `aws ecs wait services-stable`) is satisfied by a service that the deployment circuit
breaker rolled back: one deployment, every task running - the old ones. So after `pulumi up` the deploy fails
unless the service's PRIMARY deployment runs the task definition this `up` created with rolloutState COMPLETED.

    python -m scripts.deployment serving  --cluster C --service S                  # before `up`: the rollback target
    python -m scripts.deployment previous --cluster C --service S                  # after it: what served before
    python -m scripts.deployment verify   --cluster C --service S --task-definition ARN [--timeout 900]
    python -m scripts.deployment rollback --cluster C --service S --to ARN [--timeout 900]
    python -m scripts.deployment mark-released --task-definition ARN                # after a good deploy

`serving` prints the task definition that is really serving (the PRIMARY deployment's once it COMPLETED; while a
rollout is under way, the COMPLETED deployment it replaces), or nothing when no deployment ever completed.
`previous` prints what served before the current release, from ECS's service deployment history.
`rollback` points the service at a recorded revision - re-registering an identical copy if it was deregistered,
refusing one whose image ECR no longer has - then verifies it like a deploy. `mark-released` tags the image of a
revision that passed its deploy so that the ECR lifecycle policy keeps it. Exit status 1 says why it failed.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

COMPLETED, FAILED = "COMPLETED", "FAILED"
# A rolling deploy of up to 6 tasks, or the circuit breaker's decision (3 failed task starts at this size) and its
# rollback, with room to spare; right after `pulumi up` (which waited for a steady state) the first look decides.
DEFAULT_TIMEOUT_SECONDS = 900
POLL_SECONDS = 15
RELEASED_TAG_PREFIX = "released-"  # components/compute.py's lifecycle policy keeps the newest of these images
# What ECR may hand back from BatchGetImage: all of them, so that the manifest comes back byte for byte (PutImage
# with the digest refuses anything else) whatever buildx pushed (an image manifest or an index with attestations).
MANIFEST_MEDIA_TYPES = [
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
]
ECR_IMAGE = re.compile(
    r"(?P<registry>\d{12})\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com/(?P<repository>[^@:]+)@(?P<digest>sha256:[0-9a-f]{64})"
)


class Outcome(Enum):
    RUNS_IT = "runs it"
    WAIT = "still rolling out"
    FAILED = "failed"


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    reason: str


class DeploymentFailed(Exception):
    """The service does not run what was asked for; the message says what it runs instead and why."""


def primary_deployment(service: Mapping[str, Any]) -> Mapping[str, Any]:
    primaries = [d for d in service.get("deployments", []) if d.get("status") == "PRIMARY"]
    if len(primaries) != 1:
        raise DeploymentFailed(f"service {service.get('serviceName')} has {len(primaries)} PRIMARY deployments")
    primary: Mapping[str, Any] = primaries[0]
    return primary


def judge(service: Mapping[str, Any], expected: str) -> Verdict:
    """Does the service's PRIMARY deployment run `expected` with its rollout COMPLETED?"""
    primary = primary_deployment(service)
    state, reason = primary.get("rolloutState"), primary.get("rolloutStateReason", "")
    if primary["taskDefinition"] == expected:
        if state == COMPLETED:
            return Verdict(Outcome.RUNS_IT, f"the PRIMARY deployment runs {expected}, rollout COMPLETED")
        if state == FAILED:
            return Verdict(Outcome.FAILED, f"the rollout of {expected} FAILED: {reason}")
        return Verdict(Outcome.WAIT, f"the rollout of {expected} is {state}: {reason}")
    running = f"the PRIMARY deployment runs {primary['taskDefinition']} ({state}), not {expected}"
    ours = [d for d in service.get("deployments", []) if d["taskDefinition"] == expected]
    if ours:
        return Verdict(
            Outcome.FAILED,
            f"{running}; its rollout: {ours[0].get('rolloutState')}: {ours[0].get('rolloutStateReason', '')}",
        )
    return Verdict(Outcome.FAILED, f"{running}: rolled back by the circuit breaker, or changed by hand")


def serving_task_definition(service: Mapping[str, Any]) -> str | None:
    """The task definition really serving: the PRIMARY's once COMPLETED, else the COMPLETED one it replaces."""
    primary = primary_deployment(service)
    if primary.get("rolloutState") == COMPLETED:
        return str(primary["taskDefinition"])
    completed = [d for d in service.get("deployments", []) if d.get("rolloutState") == COMPLETED]
    return str(completed[0]["taskDefinition"]) if completed else None


def previous_task_definition(ecs: Any, cluster: str, service: str) -> str | None:
    """The newest revision that ECS's deployment history records as SUCCESSFUL other than the one serving now:
    what really ran before the current release (a revision the circuit breaker rejected never succeeded)."""
    serving = serving_task_definition(describe_service(ecs, cluster, service))
    succeeded = sorted(_successful_deployments(ecs, cluster, service), key=lambda d: d["createdAt"], reverse=True)
    revisions = [d["targetServiceRevisionArn"] for d in succeeded]
    task_definitions: dict[str, str] = {}
    for start in range(0, len(revisions), 20):  # DescribeServiceRevisions takes at most 20
        answer = ecs.describe_service_revisions(serviceRevisionArns=revisions[start : start + 20])
        task_definitions |= {r["serviceRevisionArn"]: r["taskDefinition"] for r in answer["serviceRevisions"]}
    for revision in revisions:
        if task_definitions.get(revision, serving) != serving:
            return task_definitions[revision]
    return None


def _successful_deployments(ecs: Any, cluster: str, service: str) -> list[Mapping[str, Any]]:
    """Every SUCCESSFUL service deployment ECS remembers (botocore has no paginator for it)."""
    found: list[Mapping[str, Any]] = []
    query: dict[str, Any] = {"cluster": cluster, "service": service, "status": ["SUCCESSFUL"]}
    while True:
        page = ecs.list_service_deployments(**query)
        found += page["serviceDeployments"]
        if not page.get("nextToken"):
            return found
        query["nextToken"] = page["nextToken"]


def describe_service(ecs: Any, cluster: str, service: str) -> Mapping[str, Any]:
    answer = ecs.describe_services(cluster=cluster, services=[service])
    found = [s for s in answer.get("services", []) if s.get("status") == "ACTIVE"]
    if not found:
        raise DeploymentFailed(f"no ACTIVE service {service} in cluster {cluster}: {answer.get('failures')}")
    result: Mapping[str, Any] = found[0]
    return result


def wait_until_it_runs(
    ecs: Any,
    cluster: str,
    service: str,
    expected: str,
    *,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    poll: float = POLL_SECONDS,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Poll until the PRIMARY deployment runs `expected` COMPLETED; raise DeploymentFailed on failure or timeout."""
    deadline = clock() + timeout
    while True:
        described = describe_service(ecs, cluster, service)
        verdict = judge(described, expected)
        if verdict.outcome is Outcome.RUNS_IT:
            return verdict.reason
        if verdict.outcome is Outcome.FAILED:
            raise DeploymentFailed(verdict.reason)
        if clock() >= deadline:
            raise DeploymentFailed(
                f"still not COMPLETED after {timeout:g} s: {verdict.reason}{_latest_event(described)}"
            )
        sleep(poll)


def _latest_event(service: Mapping[str, Any]) -> str:
    """Why a rollout hangs is in the service's events (newest first), e.g. a task ECS cannot place because Fargate
    Spot has no capacity."""
    events = service.get("events") or []
    return f"; ECS's latest service event: {events[0]['message']}" if events else ""


def roll_back(ecs: Any, ecr: Any, cluster: str, service: str, target: str, **wait: Any) -> str:
    """Point the service at `target` (a revision recorded before a deploy) and wait until it really runs it."""
    definition = ecs.describe_task_definition(taskDefinition=target)["taskDefinition"]
    for container in definition["containerDefinitions"]:
        require_image_in_ecr(ecr, container["image"])
    usable = target if definition["status"] == "ACTIVE" else register_copy(ecs, definition)
    ecs.update_service(cluster=cluster, service=service, taskDefinition=usable)
    return wait_until_it_runs(ecs, cluster, service, usable, **wait)


def register_copy(ecs: Any, definition: Mapping[str, Any]) -> str:
    """A new revision with the content of a deregistered (INACTIVE) one: ECS cannot point a service at the old."""
    accepted = ecs.meta.service_model.operation_model("RegisterTaskDefinition").input_shape.members
    copy = {key: value for key, value in definition.items() if key in accepted}
    registered = str(ecs.register_task_definition(**copy)["taskDefinition"]["taskDefinitionArn"])
    print(f"{definition['taskDefinitionArn']} is {definition['status']}: registered it again as {registered}")
    return registered


def require_image_in_ecr(ecr: Any, image: str) -> None:
    """Refuse an image the repository's lifecycle policy expired: no task of that revision could start."""
    match = ECR_IMAGE.fullmatch(image)
    if match is None:
        return  # not pinned by digest in an ECR repository: nothing to look up
    try:
        ecr.describe_images(
            registryId=match["registry"],
            repositoryName=match["repository"],
            imageIds=[{"imageDigest": match["digest"]}],
        )
    except (ecr.exceptions.ImageNotFoundException, ecr.exceptions.RepositoryNotFoundException) as missing:
        raise DeploymentFailed(
            f"{image} is no longer in ECR (the lifecycle policy keeps the newest ecrKeepImages images; "
            "`pulumi destroy` deletes the repository): redeploy that commit instead (docs/operations.md, a bad deploy)"
        ) from missing


def mark_released(ecs: Any, ecr: Any, task_definition: str) -> list[str]:
    """Tag the images of a revision that passed its deploy `released-<family>-<revision>`: the lifecycle policy then
    keeps them for rollbacks however many failed deploys push images after it. Tagging again is a no-op."""
    definition = ecs.describe_task_definition(taskDefinition=task_definition)["taskDefinition"]
    tag = f"{RELEASED_TAG_PREFIX}{definition['family']}-{definition['revision']}"
    tagged = []
    for container in definition["containerDefinitions"]:
        match = ECR_IMAGE.fullmatch(container["image"])
        if match is None:
            continue
        where = {"registryId": match["registry"], "repositoryName": match["repository"]}
        found = ecr.batch_get_image(
            **where, imageIds=[{"imageDigest": match["digest"]}], acceptedMediaTypes=MANIFEST_MEDIA_TYPES
        )["images"]
        if not found:
            raise DeploymentFailed(f"{container['image']} is not in ECR: nothing to tag")
        try:
            ecr.put_image(
                **where,
                imageManifest=found[0]["imageManifest"],
                imageManifestMediaType=found[0]["imageManifestMediaType"],
                imageTag=tag,
                imageDigest=match["digest"],
            )
        except ecr.exceptions.ImageAlreadyExistsException:
            pass  # this image already carries this tag
        tagged.append(f"{match['repository']}:{tag} = {match['digest']}")
    return tagged


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    import boto3  # only here: the tests hand in stubbed clients
    from botocore.config import Config

    region = args.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    # A throttled DescribeServices must not read as a failed release (and roll back a good one): retry it.
    patient = Config(region_name=region, retries={"mode": "standard", "max_attempts": 10})
    ecs = boto3.client("ecs", config=patient)
    try:
        if args.command == "serving":
            serving = serving_task_definition(describe_service(ecs, args.cluster, args.service))
            print(serving or "")
            if serving is None:
                print("no deployment of this service ever COMPLETED: nothing to roll back to", file=sys.stderr)
            return 0
        if args.command == "previous":
            previous = previous_task_definition(ecs, args.cluster, args.service)
            print(previous or "")
            if previous is None:
                print("ECS records no earlier SUCCESSFUL deployment of another revision", file=sys.stderr)
            return 0 if previous else 1
        if args.command == "verify":
            print(wait_until_it_runs(ecs, args.cluster, args.service, args.task_definition, timeout=args.timeout))
            return 0
        if args.command == "mark-released":
            ecr = boto3.client("ecr", config=patient)
            print("\n".join(mark_released(ecs, ecr, args.task_definition)))
            return 0
        if not args.to:
            print("rollback needs --to <task definition ARN>: nothing was recorded to go back to", file=sys.stderr)
            return 2
        ecr = boto3.client("ecr", config=patient)
        print(roll_back(ecs, ecr, args.cluster, args.service, args.to, timeout=args.timeout))
        return 0
    except DeploymentFailed as failure:
        print(f"deployment check failed: {failure}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("serving", "previous", "verify", "rollback", "mark-released"):
        command = commands.add_parser(name)
        command.add_argument("--region", default="")
        if name == "mark-released":
            command.add_argument("--task-definition", required=True)
            continue
        command.add_argument("--cluster", required=True)
        command.add_argument("--service", required=True)
        if name in ("verify", "rollback"):
            command.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_SECONDS)
    commands.choices["verify"].add_argument("--task-definition", required=True)
    commands.choices["rollback"].add_argument("--to", required=True)
    return parser


if __name__ == "__main__":
    sys.exit(main())
