"""scripts/deployment.py against botocore's Stubber: every request and answer is checked against the real ECS and ECR
API models (an answer with a field ECS does not have, or a request with a wrong parameter, fails the test)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from scripts import deployment
from scripts.deployment import DeploymentFailed

CLUSTER, SERVICE = "auth-staging-cluster-1a2b3c4", "auth-staging-service-1a2b3c4"
ACCOUNT, REGION = "123456789012", "us-east-1"
REPOSITORY = "auth-staging-repo-1a2b3c4"
DIGEST = "sha256:" + "ab" * 32
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{REPOSITORY}@{DIGEST}"
CIRCUIT_BREAKER = "ECS deployment circuit breaker: tasks failed to start."


def revision(number: int) -> str:
    return f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/auth-staging:{number}"


OLD, NEW = revision(6), revision(7)


def a_deployment(task_definition: str, status: str, rollout: str, reason: str = "") -> dict[str, Any]:
    """One entry of DescribeServices' `deployments`, with the fields ECS really returns for a Fargate service."""
    return {
        "id": f"ecs-svc/{abs(hash((task_definition, status))) % 10**19:019d}",
        "status": status,
        "taskDefinition": task_definition,
        "desiredCount": 2,
        "pendingCount": 0,
        "runningCount": 2 if rollout == "COMPLETED" else 0,
        "failedTasks": 3 if rollout == "FAILED" else 0,
        "createdAt": datetime(2026, 12, 2, 14, 0, tzinfo=UTC),
        "updatedAt": datetime(2026, 12, 2, 14, 5, tzinfo=UTC),
        "launchType": "FARGATE",
        "platformVersion": "1.4.0",
        "rolloutState": rollout,
        "rolloutStateReason": reason or f"ECS deployment {rollout.lower()}.",
    }


def services_answer(*deployments: dict[str, Any]) -> dict[str, Any]:
    primary = next(d for d in deployments if d["status"] == "PRIMARY")
    return {
        "services": [
            {
                "serviceArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/{CLUSTER}/{SERVICE}",
                "serviceName": SERVICE,
                "clusterArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{CLUSTER}",
                "status": "ACTIVE",
                "desiredCount": 2,
                "runningCount": 2,
                "pendingCount": 0,
                "launchType": "FARGATE",
                "taskDefinition": primary["taskDefinition"],
                "deployments": list(deployments),
                "deploymentConfiguration": {
                    "deploymentCircuitBreaker": {"enable": True, "rollback": True},
                    "maximumPercent": 200,
                    "minimumHealthyPercent": 100,
                },
            }
        ],
        "failures": [],
    }


DESCRIBE = {"cluster": CLUSTER, "services": [SERVICE]}
COMPLETED_NEW = services_answer(a_deployment(NEW, "PRIMARY", "COMPLETED"))
ROLLING_OUT_NEW = services_answer(a_deployment(NEW, "PRIMARY", "IN_PROGRESS"), a_deployment(OLD, "ACTIVE", "COMPLETED"))
# The circuit breaker gave up on NEW and started a deployment of the last COMPLETED revision.
ROLLING_BACK = services_answer(
    a_deployment(OLD, "PRIMARY", "IN_PROGRESS"), a_deployment(NEW, "ACTIVE", "FAILED", CIRCUIT_BREAKER)
)
# ...and finished it: one deployment, every task running, steady state - of the old revision.
ROLLED_BACK = services_answer(a_deployment(OLD, "PRIMARY", "COMPLETED"))


@pytest.fixture
def ecs() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("ecs", region_name=REGION, aws_access_key_id="offline", aws_secret_access_key="offline")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def ecr() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("ecr", region_name=REGION, aws_access_key_id="offline", aws_secret_access_key="offline")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


class FakeClock:
    """Time that moves only when the code under test sleeps: the timeout is tested without waiting for it."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def wait(client: Any, expected: str, clock: FakeClock, timeout: float = 900) -> str:
    return deployment.wait_until_it_runs(
        client, CLUSTER, SERVICE, expected, timeout=timeout, poll=15, clock=clock, sleep=clock.sleep
    )


def test_a_completed_rollout_of_this_ups_task_definition_passes(ecs: tuple[Any, Stubber]) -> None:
    client, stubber = ecs
    stubber.add_response("describe_services", COMPLETED_NEW, DESCRIBE)
    assert "rollout COMPLETED" in wait(client, NEW, FakeClock())


def test_it_waits_while_the_rollout_is_in_progress(ecs: tuple[Any, Stubber]) -> None:
    client, stubber = ecs
    stubber.add_response("describe_services", ROLLING_OUT_NEW, DESCRIBE)
    stubber.add_response("describe_services", ROLLING_OUT_NEW, DESCRIBE)
    stubber.add_response("describe_services", COMPLETED_NEW, DESCRIBE)
    clock = FakeClock()
    wait(client, NEW, clock)
    assert clock.sleeps == [15, 15]


def test_a_circuit_breaker_rollback_fails_as_soon_as_it_starts(ecs: tuple[Any, Stubber]) -> None:
    client, stubber = ecs
    stubber.add_response("describe_services", ROLLING_OUT_NEW, DESCRIBE)
    stubber.add_response("describe_services", ROLLING_BACK, DESCRIBE)
    with pytest.raises(DeploymentFailed) as failure:
        wait(client, NEW, FakeClock())
    assert f"runs {OLD} (IN_PROGRESS), not {NEW}" in str(failure.value)
    assert CIRCUIT_BREAKER in str(failure.value)


def test_a_finished_rollback_is_a_failure_although_the_service_is_steady(ecs: tuple[Any, Stubber]) -> None:
    """What `wait_for_steady_state` and `aws ecs wait services-stable` accept: one deployment, all tasks running."""
    client, stubber = ecs
    stubber.add_response("describe_services", ROLLED_BACK, DESCRIBE)
    with pytest.raises(DeploymentFailed, match="rolled back by the circuit breaker"):
        wait(client, NEW, FakeClock())


def test_a_failed_rollout_without_a_rollback_fails(ecs: tuple[Any, Stubber]) -> None:
    client, stubber = ecs
    failed = services_answer(a_deployment(NEW, "PRIMARY", "FAILED", CIRCUIT_BREAKER))
    stubber.add_response("describe_services", failed, DESCRIBE)
    with pytest.raises(DeploymentFailed, match=f"rollout of {NEW} FAILED: {CIRCUIT_BREAKER}"):
        wait(client, NEW, FakeClock())


def test_a_rollout_still_in_progress_at_the_timeout_fails(ecs: tuple[Any, Stubber]) -> None:
    client, stubber = ecs
    for _ in range(5):  # at 0, 15, 30, 45 and 60 s
        stubber.add_response("describe_services", ROLLING_OUT_NEW, DESCRIBE)
    clock = FakeClock()
    with pytest.raises(DeploymentFailed, match=r"still not COMPLETED after 60 s: the rollout of .* is IN_PROGRESS"):
        wait(client, NEW, clock, timeout=60)
    assert clock.now == 60


def test_a_service_running_another_revision_fails(ecs: tuple[Any, Stubber]) -> None:
    """Someone pointed the service elsewhere (or an older `up` won a race): the check names what runs."""
    client, stubber = ecs
    other = revision(9)
    stubber.add_response("describe_services", services_answer(a_deployment(other, "PRIMARY", "COMPLETED")), DESCRIBE)
    with pytest.raises(DeploymentFailed, match=f"runs {other} \\(COMPLETED\\), not {NEW}"):
        wait(client, NEW, FakeClock())


def test_a_missing_service_fails_with_what_ecs_said(ecs: tuple[Any, Stubber]) -> None:
    client, stubber = ecs
    missing = {"services": [], "failures": [{"arn": SERVICE, "reason": "MISSING"}]}
    stubber.add_response("describe_services", missing, DESCRIBE)
    with pytest.raises(DeploymentFailed, match="MISSING"):
        wait(client, NEW, FakeClock())


@pytest.mark.parametrize(
    ("answer", "serving"),
    [
        (COMPLETED_NEW, NEW),
        (ROLLING_OUT_NEW, OLD),  # the revision still serving while another one rolls out
        (ROLLING_BACK, None),  # nothing COMPLETED: no known-good revision to go back to
        (ROLLED_BACK, OLD),  # not "the previous number": 7 is the revision that failed
    ],
)
def test_the_rollback_target_is_the_revision_really_serving(
    ecs: tuple[Any, Stubber], answer: dict[str, Any], serving: str | None
) -> None:
    client, stubber = ecs
    stubber.add_response("describe_services", answer, DESCRIBE)
    assert deployment.serving_task_definition(deployment.describe_service(client, CLUSTER, SERVICE)) == serving


def task_definition_answer(arn: str, status: str) -> dict[str, Any]:
    family, number = arn.rsplit("/", 1)[1].split(":")
    return {
        "taskDefinition": {
            "taskDefinitionArn": arn,
            "family": family,
            "revision": int(number),
            "status": status,
            "containerDefinitions": [{"name": "auth", "image": IMAGE, "essential": True}],
            "executionRoleArn": f"arn:aws:iam::{ACCOUNT}:role/auth-staging-execution",
            "taskRoleArn": f"arn:aws:iam::{ACCOUNT}:role/auth-staging-task",
            "networkMode": "awsvpc",
            "requiresCompatibilities": ["FARGATE"],
            "compatibilities": ["EC2", "FARGATE"],
            "cpu": "512",
            "memory": "1024",
            "runtimePlatform": {"cpuArchitecture": "X86_64", "operatingSystemFamily": "LINUX"},
            "registeredAt": datetime(2026, 12, 1, tzinfo=UTC),
            "registeredBy": f"arn:aws:sts::{ACCOUNT}:assumed-role/deploy/GitHubActions",
            "requiresAttributes": [{"name": "com.amazonaws.ecs.capability.docker-remote-api.1.18"}],
        }
    }


IMAGE_QUERY = {"registryId": ACCOUNT, "repositoryName": REPOSITORY, "imageIds": [{"imageDigest": DIGEST}]}
IMAGE_FOUND = {"imageDetails": [{"registryId": ACCOUNT, "repositoryName": REPOSITORY, "imageDigest": DIGEST}]}


def roll_back(ecs: Any, ecr: Any, target: str) -> str:
    clock = FakeClock()
    return deployment.roll_back(ecs, ecr, CLUSTER, SERVICE, target, clock=clock, sleep=clock.sleep)


def test_rollback_points_the_service_at_the_recorded_revision_and_waits_until_it_runs_it(
    ecs: tuple[Any, Stubber], ecr: tuple[Any, Stubber]
) -> None:
    (ecs_client, ecs_stub), (ecr_client, ecr_stub) = ecs, ecr
    ecs_stub.add_response("describe_task_definition", task_definition_answer(OLD, "ACTIVE"), {"taskDefinition": OLD})
    ecr_stub.add_response("describe_images", IMAGE_FOUND, IMAGE_QUERY)
    ecs_stub.add_response("update_service", {}, {"cluster": CLUSTER, "service": SERVICE, "taskDefinition": OLD})
    ecs_stub.add_response("describe_services", ROLLING_BACK, DESCRIBE)
    ecs_stub.add_response("describe_services", ROLLED_BACK, DESCRIBE)
    assert f"runs {OLD}, rollout COMPLETED" in roll_back(ecs_client, ecr_client, OLD)


def test_rollback_to_a_deregistered_revision_registers_the_same_definition_again(
    ecs: tuple[Any, Stubber], ecr: tuple[Any, Stubber]
) -> None:
    """Revisions replaced before `skip_destroy` reached the state are INACTIVE; ECS refuses to run them."""
    (ecs_client, ecs_stub), (ecr_client, ecr_stub) = ecs, ecr
    inactive = task_definition_answer(OLD, "INACTIVE")
    ecs_stub.add_response("describe_task_definition", inactive, {"taskDefinition": OLD})
    ecr_stub.add_response("describe_images", IMAGE_FOUND, IMAGE_QUERY)
    copy = revision(8)
    same = inactive["taskDefinition"]
    register = {key: same[key] for key in ("family", "containerDefinitions", "executionRoleArn", "taskRoleArn")}
    register |= {key: same[key] for key in ("networkMode", "requiresCompatibilities", "cpu", "memory")}
    register["runtimePlatform"] = same["runtimePlatform"]
    ecs_stub.add_response(
        "register_task_definition", task_definition_answer(copy, "ACTIVE"), register
    )  # no status, ARN, revision or registeredBy: what RegisterTaskDefinition accepts, nothing more
    ecs_stub.add_response("update_service", {}, {"cluster": CLUSTER, "service": SERVICE, "taskDefinition": copy})
    ecs_stub.add_response("describe_services", services_answer(a_deployment(copy, "PRIMARY", "COMPLETED")), DESCRIBE)
    assert f"runs {copy}, rollout COMPLETED" in roll_back(ecs_client, ecr_client, OLD)


@pytest.mark.parametrize(
    "error",
    [
        "ImageNotFoundException",  # expired by the lifecycle policy
        "RepositoryNotFoundException",  # a revision from before a `destroy`: its repository is gone
    ],
)
def test_rollback_refuses_a_revision_whose_image_ecr_no_longer_has(
    ecs: tuple[Any, Stubber], ecr: tuple[Any, Stubber], error: str
) -> None:
    (ecs_client, ecs_stub), (ecr_client, ecr_stub) = ecs, ecr
    ecs_stub.add_response("describe_task_definition", task_definition_answer(OLD, "ACTIVE"), {"taskDefinition": OLD})
    ecr_stub.add_client_error("describe_images", error, expected_params=IMAGE_QUERY)
    with pytest.raises(DeploymentFailed, match="no longer in ECR"):
        roll_back(ecs_client, ecr_client, OLD)  # and no update_service: the Stubber refuses calls it was not given


def test_the_command_line_fails_with_the_reason_when_the_service_was_rolled_back(
    ecs: tuple[Any, Stubber], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    client, stubber = ecs
    stubber.add_response("describe_services", ROLLED_BACK, DESCRIBE)
    clients = itertools.repeat(client)
    monkeypatch.setattr(boto3, "client", lambda service, config: next(clients))
    argv = ["verify", "--cluster", CLUSTER, "--service", SERVICE, "--task-definition", NEW]
    assert deployment.main(argv) == 1
    assert f"deployment check failed: the PRIMARY deployment runs {OLD}" in capsys.readouterr().err


def test_the_command_line_prints_the_serving_revision_for_the_workflow(
    ecs: tuple[Any, Stubber], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    client, stubber = ecs
    stubber.add_response("describe_services", ROLLING_OUT_NEW, DESCRIBE)
    monkeypatch.setattr(boto3, "client", lambda service, config: client)
    assert deployment.main(["serving", "--cluster", CLUSTER, "--service", SERVICE]) == 0
    assert capsys.readouterr().out == f"{OLD}\n"


def service_deployment(number: int, created_hour: int) -> dict[str, Any]:
    return {
        "serviceDeploymentArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:service-deployment/{CLUSTER}/{SERVICE}/d{number}",
        "serviceArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/{CLUSTER}/{SERVICE}",
        "clusterArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{CLUSTER}",
        "createdAt": datetime(2026, 12, 2, created_hour, tzinfo=UTC),
        "startedAt": datetime(2026, 12, 2, created_hour, tzinfo=UTC),
        "finishedAt": datetime(2026, 12, 2, created_hour, 10, tzinfo=UTC),
        "targetServiceRevisionArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:service-revision/{CLUSTER}/{SERVICE}/r{number}",
        "status": "SUCCESSFUL",
    }


def service_revision(number: int) -> dict[str, Any]:
    return {
        "serviceRevisionArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:service-revision/{CLUSTER}/{SERVICE}/r{number}",
        "serviceArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/{CLUSTER}/{SERVICE}",
        "clusterArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{CLUSTER}",
        "taskDefinition": revision(number),
        "launchType": "FARGATE",
        "createdAt": datetime(2026, 12, 2, tzinfo=UTC),
    }


def test_previous_is_the_last_revision_that_succeeded_before_the_one_serving_not_the_previous_number(
    ecs: tuple[Any, Stubber],
) -> None:
    """Revision 5 served, 6 was rolled back by the circuit breaker, 7 is serving and bad: the way back is 5."""
    client, stubber = ecs
    bad = revision(7)
    stubber.add_response("describe_services", services_answer(a_deployment(bad, "PRIMARY", "COMPLETED")), DESCRIBE)
    history = {"serviceDeployments": [service_deployment(5, 9), service_deployment(7, 13), service_deployment(4, 8)]}
    stubber.add_response(
        "list_service_deployments", history, {"cluster": CLUSTER, "service": SERVICE, "status": ["SUCCESSFUL"]}
    )
    arns = [
        d["targetServiceRevisionArn"] for d in sorted(history["serviceDeployments"], key=lambda d: -d["createdAt"].hour)
    ]
    stubber.add_response(
        "describe_service_revisions",
        {"serviceRevisions": [service_revision(7), service_revision(5), service_revision(4)], "failures": []},
        {"serviceRevisionArns": arns},
    )
    assert deployment.previous_task_definition(client, CLUSTER, SERVICE) == revision(5)


def test_the_services_stable_waiter_the_old_rollback_used_accepts_a_rolled_back_service(
    ecs: tuple[Any, Stubber],
) -> None:
    """botocore's own `services_stable` acceptors (what `aws ecs wait services-stable` runs) call a service that
    the circuit breaker rolled back stable: the reason the release check reads the PRIMARY deployment instead."""
    client, stubber = ecs
    stubber.add_response("describe_services", ROLLED_BACK, DESCRIBE)
    client.get_waiter("services_stable").wait(**DESCRIBE)  # returns: "stable" - on the old revision
    stubber.add_response("describe_services", ROLLED_BACK, DESCRIBE)
    with pytest.raises(DeploymentFailed):
        wait(client, NEW, FakeClock())


def test_a_rollback_with_an_empty_target_changes_nothing(
    ecs: tuple[Any, Stubber], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`PREVIOUS=$(... previous ...)` is empty when ECS knows no earlier success: no call, a clear refusal."""
    client, _ = ecs
    monkeypatch.setattr(boto3, "client", lambda service, config: client)
    assert deployment.main(["rollback", "--cluster", CLUSTER, "--service", SERVICE, "--to", ""]) == 2
    assert "nothing was recorded to go back to" in capsys.readouterr().err


INDEX = '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}'


def test_a_released_revision_gets_its_image_tagged_for_the_lifecycle_policy_to_keep(
    ecs: tuple[Any, Stubber], ecr: tuple[Any, Stubber]
) -> None:
    (ecs_client, ecs_stub), (ecr_client, ecr_stub) = ecs, ecr
    ecs_stub.add_response("describe_task_definition", task_definition_answer(NEW, "ACTIVE"), {"taskDefinition": NEW})
    where = {"registryId": ACCOUNT, "repositoryName": REPOSITORY}
    manifest = {**where, "imageId": {"imageDigest": DIGEST}, "imageManifest": INDEX}
    manifest["imageManifestMediaType"] = "application/vnd.oci.image.index.v1+json"
    ecr_stub.add_response(
        "batch_get_image",
        {"images": [manifest], "failures": []},
        {**where, "imageIds": [{"imageDigest": DIGEST}], "acceptedMediaTypes": deployment.MANIFEST_MEDIA_TYPES},
    )
    put = {**where, "imageManifest": INDEX, "imageManifestMediaType": manifest["imageManifestMediaType"]}
    put |= {"imageTag": "released-auth-staging-7", "imageDigest": DIGEST}  # the digest: ECR refuses a changed manifest
    ecr_stub.add_response("put_image", {"image": manifest}, put)
    assert deployment.mark_released(ecs_client, ecr_client, NEW) == [f"{REPOSITORY}:released-auth-staging-7 = {DIGEST}"]


def test_tagging_a_released_image_again_is_harmless(ecs: tuple[Any, Stubber], ecr: tuple[Any, Stubber]) -> None:
    (ecs_client, ecs_stub), (ecr_client, ecr_stub) = ecs, ecr
    ecs_stub.add_response("describe_task_definition", task_definition_answer(NEW, "ACTIVE"), {"taskDefinition": NEW})
    where = {"registryId": ACCOUNT, "repositoryName": REPOSITORY}
    manifest = {**where, "imageId": {"imageDigest": DIGEST}, "imageManifest": INDEX}
    manifest["imageManifestMediaType"] = "application/vnd.oci.image.index.v1+json"
    ecr_stub.add_response("batch_get_image", {"images": [manifest], "failures": []})
    ecr_stub.add_client_error("put_image", "ImageAlreadyExistsException")
    assert len(deployment.mark_released(ecs_client, ecr_client, NEW)) == 1


def test_the_released_tag_is_the_one_the_lifecycle_policy_keeps() -> None:
    from components.compute import RELEASED_TAG_PREFIX

    assert deployment.RELEASED_TAG_PREFIX == RELEASED_TAG_PREFIX


NO_SPOT_CAPACITY = (
    f"(service {SERVICE}) was unable to place a task. Reason: Capacity is unavailable at this time. Please try"
    " again later or in a different availability zone."
)


def test_a_rollout_waiting_for_fargate_spot_capacity_fails_at_the_timeout_with_what_ecs_said(
    ecs: tuple[Any, Stubber],
) -> None:
    """No Spot capacity for the new Spot task: the old tasks keep serving, the rollout never completes, and the
    failure says why instead of only 'IN_PROGRESS' (docs/operations.md, "Fargate Spot at idle")."""
    client, stubber = ecs
    waiting = services_answer(a_deployment(NEW, "PRIMARY", "IN_PROGRESS"), a_deployment(OLD, "ACTIVE", "COMPLETED"))
    waiting["services"][0]["events"] = [
        {"id": "e2", "createdAt": datetime(2026, 12, 2, 14, 6, tzinfo=UTC), "message": NO_SPOT_CAPACITY},
        {
            "id": "e1",
            "createdAt": datetime(2026, 12, 2, 14, 0, tzinfo=UTC),
            "message": "(service x) has started 1 tasks",
        },
    ]
    for _ in range(3):  # at 0, 15 and 30 s
        stubber.add_response("describe_services", waiting, DESCRIBE)
    with pytest.raises(DeploymentFailed, match=r"still not COMPLETED after 30 s: .*IN_PROGRESS") as failure:
        wait(client, NEW, FakeClock(), timeout=30)
    assert f"ECS's latest service event: {NO_SPOT_CAPACITY}" in str(failure.value)
    assert "has started 1 tasks" not in str(failure.value)
