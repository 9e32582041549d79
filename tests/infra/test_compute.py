"""Compute promises: image by digest for linux/amd64, private tasks, safe deployments, least-privilege IAM."""

from __future__ import annotations

import json
from fnmatch import fnmatchcase as fnmatch
from typing import Any

from components.github_oidc import StackScope, boundary_policy, permissions_boundary_arn
from scripts.offline_stack import ACCOUNT, REGION, ROOT, StackGraph, is_secret_wrapper

SERVICE = "aws:ecs/service:Service"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"


def role(graph: StackGraph, label: str) -> Any:
    (found,) = [r for r in graph.of_type(ROLE) if r.name == f"auth-staging-{label}"]
    return found


def policies_attached_to(graph: StackGraph, role_id: str) -> list[dict[str, Any]]:
    inline = [json.loads(p.plain["policy"]) for p in graph.of_type(ROLE_POLICY) if p.plain["role"] == role_id]
    attached = [
        p
        for typ in (
            "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
            "aws:iam/policyAttachment:PolicyAttachment",
            "aws:iam/rolePoliciesExclusive:RolePoliciesExclusive",
        )
        for p in graph.of_type(typ)
    ]
    assert not attached, "managed policy attachments widen the roles beyond what is reviewed here"
    return inline


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def test_image_is_built_for_linux_amd64_from_auth_service_and_pinned_by_digest(
    staging: StackGraph, container: dict[str, Any]
) -> None:
    image = staging.one("docker:index/image:Image")
    build = image.plain["build"]
    assert (build["platform"], build["context"]) == ("linux/amd64", "auth_service")
    assert image.plain["imageName"].startswith(staging.one("aws:ecr/repository:Repository").state["repositoryUrl"])
    registry = image.inputs["registry"]
    assert is_secret_wrapper(registry) or is_secret_wrapper(registry["password"]), "ECR token in plain text"
    assert container["image"] == image.state["repoDigest"]
    assert "@sha256:" in container["image"]
    task = staging.one("aws:ecs/taskDefinition:TaskDefinition").plain
    assert task["runtimePlatform"] == {"cpuArchitecture": "X86_64", "operatingSystemFamily": "LINUX"}


def test_ecr_scans_on_push_and_keeps_only_the_last_images(staging: StackGraph) -> None:
    repository = staging.one("aws:ecr/repository:Repository")
    assert repository.plain["imageScanningConfiguration"] == {"scanOnPush": True}
    lifecycle = staging.one("aws:ecr/lifecyclePolicy:LifecyclePolicy").plain
    assert lifecycle["repository"] == repository.state["name"]
    released, newest = json.loads(lifecycle["policy"])["rules"]
    assert newest["selection"] == {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 10}
    assert released["rulePriority"] < newest["rulePriority"]  # released images are never expired by the count
    assert {released["action"]["type"], newest["action"]["type"]} == {"expire"}


def test_task_definition_runs_one_fargate_container_on_port_8000_with_awslogs(
    staging: StackGraph, container: dict[str, Any]
) -> None:
    task = staging.one("aws:ecs/taskDefinition:TaskDefinition").plain
    assert (task["cpu"], task["memory"], task["networkMode"]) == ("512", "1024", "awsvpc")
    assert task["requiresCompatibilities"] == ["FARGATE"]
    assert container["portMappings"] == [{"containerPort": 8000, "protocol": "tcp"}]
    log_group = staging.by_name("auth-staging-logs")
    assert int(log_group.plain["retentionInDays"]) == 30
    assert container["logConfiguration"] == {
        "logDriver": "awslogs",
        "options": {
            "awslogs-group": log_group.state["name"],
            "awslogs-region": "us-east-1",
            "awslogs-stream-prefix": "auth",
            "mode": "non-blocking",
            "max-buffer-size": "25m",
        },
    }
    cluster = staging.one("aws:ecs/cluster:Cluster").plain
    assert cluster["settings"] == [{"name": "containerInsights", "value": "disabled"}]  # config containerInsights


def test_tasks_run_in_private_subnets_without_public_ip(staging: StackGraph) -> None:
    service = staging.one(SERVICE).plain
    network = service["networkConfiguration"]
    assert network["assignPublicIp"] is False
    assert set(network["subnets"]) == {s.state["id"] for s in staging.subnets("private")}
    assert network["securityGroups"] == [staging.security_group("ecs").state["id"]]
    assert "launchType" not in service  # Fargate through the capacity provider strategy (tests/infra/test_idle_spot.py)
    assert {s["capacityProvider"] for s in service["capacityProviderStrategies"]} <= {"FARGATE", "FARGATE_SPOT"}
    assert int(service["desiredCount"]) == 1


def test_deployments_roll_back_on_failure_and_pulumi_waits_for_steady_state(staging: StackGraph) -> None:
    service = staging.one(SERVICE).plain
    assert service["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
    assert service["waitForSteadyState"] is True
    assert int(service["healthCheckGracePeriodSeconds"]) >= 60
    assert int(service["deploymentMinimumHealthyPercent"]) == 100


def test_load_balancer_is_public_http_only_drops_invalid_headers_and_checks_liveness(
    staging: StackGraph,
) -> None:
    alb = staging.one("aws:lb/loadBalancer:LoadBalancer")
    assert alb.plain["internal"] is False
    assert alb.plain["dropInvalidHeaderFields"] is True
    assert set(alb.plain["subnets"]) == {s.state["id"] for s in staging.subnets("public")}
    assert alb.plain["securityGroups"] == [staging.security_group("alb").state["id"]]

    target_group = staging.one("aws:lb/targetGroup:TargetGroup")
    assert (target_group.plain["targetType"], int(target_group.plain["port"])) == ("ip", 8000)
    health = target_group.plain["healthCheck"]
    # Shallow: a PostgreSQL or Redis blip must not mark every target unhealthy (docs/operations.md#health-checks).
    assert (health["path"], health["matcher"]) == ("/health/live", "200")

    listener = staging.one("aws:lb/listener:Listener").plain
    assert (int(listener["port"]), listener["protocol"]) == (80, "HTTP")
    assert listener["loadBalancerArn"] == alb.state["arn"]
    assert listener["defaultActions"] == [{"type": "forward", "targetGroupArn": target_group.state["arn"]}]

    (attachment,) = staging.one(SERVICE).plain["loadBalancers"]
    assert attachment == {"targetGroupArn": target_group.state["arn"], "containerName": "auth", "containerPort": 8000}


def test_execution_role_reads_exactly_this_stacks_secrets_and_nothing_wider(staging: StackGraph) -> None:
    execution = role(staging, "execution")
    (policy,) = policies_attached_to(staging, execution.state["id"])
    statements = policy["Statement"]
    assert all(s["Effect"] == "Allow" for s in statements)
    assert all("*" not in action for s in statements for action in as_list(s["Action"])), "wildcard action"

    secret_arns = {s.state["arn"] for s in staging.of_type("aws:secretsmanager/secret:Secret")}
    assert len(secret_arns) == 3
    secret_statements = [s for s in statements if any(a.startswith("secretsmanager:") for a in as_list(s["Action"]))]
    assert [as_list(s["Action"]) for s in secret_statements] == [["secretsmanager:GetSecretValue"]]
    assert set(as_list(secret_statements[0]["Resource"])) == secret_arns

    unscoped = [s for s in statements if "*" in as_list(s["Resource"])]
    assert [as_list(s["Action"]) for s in unscoped] == [["ecr:GetAuthorizationToken"]]
    repository_arn = staging.one("aws:ecr/repository:Repository").state["arn"]
    log_group_arn = staging.by_name("auth-staging-logs").state["arn"]
    scoped = {r for s in statements for r in as_list(s["Resource"])} - {"*"}
    assert scoped == secret_arns | {repository_arn, f"{log_group_arn}:*"}


def test_task_role_has_no_permissions_and_only_ecs_tasks_assume_the_roles(staging: StackGraph) -> None:
    task_role = role(staging, "task")
    assert policies_attached_to(staging, task_role.state["id"]) == []
    assert not task_role.plain.get("managedPolicyArns")
    assert not task_role.plain.get("inlinePolicies")
    for each in staging.of_type(ROLE):
        trust = json.loads(each.plain["assumeRolePolicy"])
        assert [s["Principal"] for s in trust["Statement"]] == [{"Service": "ecs-tasks.amazonaws.com"}]

    task = staging.one("aws:ecs/taskDefinition:TaskDefinition").plain
    assert task["taskRoleArn"] == task_role.state["arn"]
    assert task["executionRoleArn"] == role(staging, "execution").state["arn"]


def test_task_definition_points_at_this_stacks_database_cache_and_secrets(
    staging: StackGraph, container: dict[str, Any]
) -> None:
    env = {item["name"]: item["value"] for item in container["environment"]}
    db = staging.one("aws:rds/instance:Instance")
    redis = staging.one("aws:elasticache/replicationGroup:ReplicationGroup")
    assert (env["DB_HOST"], env["DB_PORT"]) == (db.state["address"], "5432")
    assert (env["DB_NAME"], env["DB_USER"]) == (db.plain["dbName"], db.plain["username"])
    assert env["REDIS_URL"] == f"rediss://{redis.state['primaryEndpointAddress']}:6379/0"

    secret_arn = {
        version.name.removeprefix("auth-staging-"): staging.by_id(version.plain["secretId"]).state["arn"]
        for version in staging.of_type("aws:secretsmanager/secretVersion:SecretVersion")
    }
    assert {item["name"]: item["valueFrom"] for item in container["secrets"]} == {
        "DB_PASSWORD": secret_arn["db-password"],
        "REDIS_AUTH_TOKEN": secret_arn["redis-auth-token"],
        "JWT_PRIVATE_KEY": secret_arn["jwt-private-key"],
    }


def test_container_cannot_write_its_root_filesystem(container: dict[str, Any]) -> None:
    assert container["readonlyRootFilesystem"] is True
    assert "mountPoints" not in container and "volumes" not in container  # nothing writable was needed
    # What keeps Python from writing beside its code: no bytecode caches, and a user who owns none of /app.
    dockerfile = (ROOT / "auth_service" / "Dockerfile").read_text()
    assert "PYTHONDONTWRITEBYTECODE=1" in dockerfile
    assert "USER 10001:10001" in dockerfile


def test_every_role_carries_the_permissions_boundary_and_stays_inside_it(staging: StackGraph) -> None:
    boundary = permissions_boundary_arn("auth-staging", ACCOUNT)
    roles = staging.of_type(ROLE)
    assert {r.name for r in roles} == {"auth-staging-execution", "auth-staging-task"}
    assert {r.plain["permissionsBoundary"] for r in roles} == {boundary}

    allowed = boundary_policy(StackScope("auth-staging", ACCOUNT, REGION))["Statement"]
    (execution_policy,) = policies_attached_to(staging, role(staging, "execution").state["id"])
    for statement in execution_policy["Statement"]:
        for action in as_list(statement["Action"]):
            for resource in as_list(statement["Resource"]):
                assert any(
                    any(fnmatch(action, a) for a in as_list(b["Action"]))
                    and any(fnmatch(resource, r) for r in as_list(b["Resource"]))
                    for b in allowed
                ), f"the boundary would deny {action} on {resource}: the tasks could not start"
