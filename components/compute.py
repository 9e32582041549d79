"""Compute layer: image in ECR, ECS cluster, Fargate service behind an HTTP load balancer.

The task definition follows docs/container-contract.md exactly (tests/infra/test_contract.py proves it).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_docker as docker

from components.config import APP_PORT, DB_PORT, REDIS_PORT, ComputeSettings
from components.data import ServiceSecretArns

RDS_CA_BUNDLE_PATH = "/etc/ssl/rds/global-bundle.pem"  # where auth_service/Dockerfile puts it
CONTAINER_NAME = "auth"
HEALTH_CHECK_COMMAND = ["CMD", "python", "-m", "auth_service", "healthcheck"]  # GET /health/live
# Shallow on purpose: a blip of PostgreSQL or Redis must not make every target unhealthy at once and have ECS
# replace every task (docs/operations.md#health-checks). /health/ready is for the smoke test and for humans.
TARGET_HEALTH_PATH = "/health/live"
ECS_TASKS_PRINCIPAL = "ecs-tasks.amazonaws.com"
# The awslogs driver's buffer in non-blocking mode (default 1m). At 250 requests/s a task writes about 100 KB/s of
# JSON access lines (~400 bytes each), so 25 MiB rides out a CloudWatch Logs stall of about four minutes (about 30 s
# at the GET /users/me maximum, docs/capacity.md), for 2.5 % of the task's 1 GiB.
LOG_BUFFER_SIZE = "25m"
RELEASED_TAG_PREFIX = "released-"  # scripts/deployment.py tags the image of every revision that passed its deploy
FARGATE, FARGATE_SPOT = "FARGATE", "FARGATE_SPOT"


@dataclass(frozen=True)
class ComputeArgs:
    settings: ComputeSettings
    vpc_id: pulumi.Input[str]
    public_subnet_ids: Sequence[pulumi.Input[str]]  # the load balancer's
    private_subnet_ids: Sequence[pulumi.Input[str]]  # the tasks'
    alb_security_group_id: pulumi.Input[str]
    ecs_security_group_id: pulumi.Input[str]
    db_address: pulumi.Input[str]
    db_name: pulumi.Input[str]
    db_user: pulumi.Input[str]
    redis_host: pulumi.Input[str]
    secret_arns: ServiceSecretArns
    permissions_boundary_arn: pulumi.Input[str]  # every role this stack creates carries it (docs/infra.md)
    # Creation order that no input carries (docs/infra.md, "Creation order"):
    after_internet_gateway: Sequence[pulumi.Resource]  # an internet-facing load balancer needs it attached
    after_private_egress: Sequence[pulumi.Resource]  # tasks reach ECR and Secrets Manager only through the NAT


class Compute(pulumi.ComponentResource):
    repository: aws.ecr.Repository
    image: docker.Image
    cluster: aws.ecs.Cluster
    cluster_capacity_providers: aws.ecs.ClusterCapacityProviders
    log_group: aws.cloudwatch.LogGroup
    execution_role: aws.iam.Role
    task_role: aws.iam.Role
    task_definition: aws.ecs.TaskDefinition
    load_balancer: aws.lb.LoadBalancer
    target_group: aws.lb.TargetGroup
    service: aws.ecs.Service

    def __init__(self, name: str, args: ComputeArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("aidlc:compute:Compute", name, None, opts)
        self._name = name
        self._child = pulumi.ResourceOptions(parent=self)
        settings = args.settings

        self.repository, self.image = self._image(settings)
        self.cluster = aws.ecs.Cluster(
            f"{name}-cluster",
            settings=[
                aws.ecs.ClusterSettingArgs(
                    name="containerInsights", value="enabled" if settings.container_insights else "disabled"
                )
            ],
            opts=self._child,
        )
        # A capacity provider strategy may name only providers associated with the cluster. Both are associated
        # whatever `idleOnSpot` says, so turning it on or off changes only the service's strategy.
        self.cluster_capacity_providers = aws.ecs.ClusterCapacityProviders(
            f"{name}-capacity-providers",
            cluster_name=self.cluster.name,
            capacity_providers=[FARGATE, FARGATE_SPOT],
            opts=self._child,
        )
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=f"/ecs/{name}",
            retention_in_days=settings.log_retention_days,
            opts=self._child,
        )
        boundary = args.permissions_boundary_arn
        self.execution_role, execution_policy = self._execution_role(args.secret_arns, boundary)
        self.task_role = self._role("task", "Runs the service; no AWS permissions of its own", boundary)
        self.task_definition = self._task_definition(args)
        self.load_balancer, self.target_group, listener = self._load_balancer(args)
        # Nothing in the service's inputs says that its tasks need a way out to ECR and Secrets Manager, a role
        # that may read the secrets, a listener sending them traffic, or the cluster's capacity providers; without
        # these edges Pulumi would start the service in parallel with them on the first deploy.
        self.service = self._service(
            args, [*args.after_private_egress, execution_policy, listener, self.cluster_capacity_providers]
        )

        self.service_url = self.load_balancer.dns_name.apply(lambda dns: f"http://{dns}")
        self.ecr_repository_url = self.repository.repository_url
        self.cluster_name = self.cluster.name
        self.service_name = self.service.name
        self.log_group_name = self.log_group.name
        self.alb_arn_suffix = self.load_balancer.arn_suffix
        self.target_group_arn_suffix = self.target_group.arn_suffix
        self.desired_count = settings.desired_count
        self.task_definition_arn = self.task_definition.arn
        self.register_outputs(
            {
                "service_url": self.service_url,
                "ecr_repository_url": self.ecr_repository_url,
                "cluster_name": self.cluster_name,
                "service_name": self.service_name,
                "log_group_name": self.log_group_name,
                "task_definition_arn": self.task_definition_arn,
            }
        )

    # --- image --------------------------------------------------------------------------------

    def _image(self, settings: ComputeSettings) -> tuple[aws.ecr.Repository, docker.Image]:
        repository = aws.ecr.Repository(
            f"{self._name}-repo",
            image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(scan_on_push=True),
            image_tag_mutability="MUTABLE",  # the stack tag moves; the service pins the digest
            force_delete=settings.ecr_force_delete,
            opts=self._child,
        )
        aws.ecr.LifecyclePolicy(
            f"{self._name}-repo-keep-last",
            repository=repository.name,
            policy=json.dumps({"rules": _lifecycle_rules(settings.ecr_keep_images)}),
            opts=self._child,
        )
        credentials = aws.ecr.get_authorization_token_output(registry_id=repository.registry_id)
        image = docker.Image(
            f"{self._name}-image",
            image_name=repository.repository_url.apply(lambda url: f"{url}:{settings.environment}"),
            build=docker.DockerBuildArgs(context=settings.docker_context, platform=settings.docker_platform),
            registry=docker.RegistryArgs(
                server=repository.repository_url,
                username=credentials.user_name,
                password=pulumi.Output.secret(credentials.password),
            ),
            opts=self._child,
        )
        return repository, image

    # --- IAM ----------------------------------------------------------------------------------

    def _role(self, label: str, description: str, permissions_boundary: pulumi.Input[str]) -> aws.iam.Role:
        return aws.iam.Role(
            f"{self._name}-{label}",
            description=description,
            permissions_boundary=permissions_boundary,
            assume_role_policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": ECS_TASKS_PRINCIPAL},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
            opts=self._child,
        )

    def _execution_role(
        self, secret_arns: ServiceSecretArns, permissions_boundary: pulumi.Input[str]
    ) -> tuple[aws.iam.Role, aws.iam.RolePolicy]:
        role = self._role("execution", "Pulls the image, writes logs, reads this stack's secrets", permissions_boundary)
        policy = pulumi.Output.all(
            repository_arn=self.repository.arn,
            log_group_arn=self.log_group.arn,
            secret_arns=pulumi.Output.all(*secret_arns.all()),
        ).apply(lambda arns: json.dumps(_execution_policy(**arns)))
        role_policy = aws.iam.RolePolicy(f"{self._name}-execution", role=role.id, policy=policy, opts=self._child)
        return role, role_policy

    # --- task definition ----------------------------------------------------------------------

    def _task_definition(self, args: ComputeArgs) -> aws.ecs.TaskDefinition:
        settings = args.settings
        container = pulumi.Output.all(
            image=self.image.repo_digest,
            db_host=args.db_address,
            db_name=args.db_name,
            db_user=args.db_user,
            redis_host=args.redis_host,
            log_group=self.log_group.name,
            db_password_arn=args.secret_arns.db_password,
            redis_auth_token_arn=args.secret_arns.redis_auth_token,
            jwt_private_key_arn=args.secret_arns.jwt_private_key,
        ).apply(lambda values: json.dumps([_container_definition(settings, **values)]))
        return aws.ecs.TaskDefinition(
            f"{self._name}-task",
            family=self._name,
            cpu=str(settings.task_cpu),
            memory=str(settings.task_memory),
            network_mode="awsvpc",
            requires_compatibilities=["FARGATE"],
            runtime_platform=aws.ecs.TaskDefinitionRuntimePlatformArgs(
                operating_system_family="LINUX", cpu_architecture=settings.cpu_architecture
            ),
            execution_role_arn=self.execution_role.arn,
            task_role_arn=self.task_role.arn,
            container_definitions=container,
            # A replacement (every new image) would otherwise deregister the revision it replaces, and ECS refuses
            # to point a service at an INACTIVE revision: both rollback paths (docs/operations.md) need it ACTIVE.
            # The provider reads this flag from the state of the revision being deleted, so it protects the
            # revisions registered from the first `up` that carries it on.
            skip_destroy=True,
            opts=self._child,
        )

    # --- load balancer and service ------------------------------------------------------------

    def _load_balancer(self, args: ComputeArgs) -> tuple[aws.lb.LoadBalancer, aws.lb.TargetGroup, aws.lb.Listener]:
        load_balancer = aws.lb.LoadBalancer(
            f"{self._name}-alb",
            load_balancer_type="application",
            internal=False,
            subnets=args.public_subnet_ids,
            security_groups=[args.alb_security_group_id],
            drop_invalid_header_fields=True,
            # Public addresses need the VPC's internet gateway attached (`Gateway.NotAttached`).
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.after_internet_gateway)),
        )
        target_group = aws.lb.TargetGroup(
            f"{self._name}-tg",
            port=APP_PORT,
            protocol="HTTP",
            target_type="ip",
            vpc_id=args.vpc_id,
            deregistration_delay=30,
            health_check=aws.lb.TargetGroupHealthCheckArgs(
                path=TARGET_HEALTH_PATH,
                matcher="200",
                interval=15,
                timeout=5,
                healthy_threshold=2,
                unhealthy_threshold=3,
            ),
            opts=self._child,
        )
        listener = aws.lb.Listener(
            f"{self._name}-http",
            load_balancer_arn=load_balancer.arn,
            port=80,
            protocol="HTTP",
            default_actions=[aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn=target_group.arn)],
            opts=self._child,
        )
        return load_balancer, target_group, listener

    def _service(self, args: ComputeArgs, prerequisites: list[pulumi.Resource]) -> aws.ecs.Service:
        settings = args.settings
        return aws.ecs.Service(
            f"{self._name}-service",
            cluster=self.cluster.arn,
            task_definition=self.task_definition.arn,
            # A strategy, never `launch_type`, in both settings of `idleOnSpot` (docs/infra.md, "Capacity
            # providers"): the provider replaces a service whose launch_type changes, and it reads a strategy
            # service's launch type back empty; a change of strategy is an in-place rolling deployment instead.
            capacity_provider_strategies=capacity_provider_strategy(settings.spot_tasks),
            # The provider refuses a change of strategy without it (ECS only changes one with a new deployment).
            # Every other change this stack makes to the service is a new task definition, a deployment anyway.
            force_new_deployment=True,
            desired_count=settings.desired_count,
            network_configuration=aws.ecs.ServiceNetworkConfigurationArgs(
                subnets=args.private_subnet_ids,
                security_groups=[args.ecs_security_group_id],
                assign_public_ip=False,
            ),
            load_balancers=[
                aws.ecs.ServiceLoadBalancerArgs(
                    target_group_arn=self.target_group.arn,
                    container_name=CONTAINER_NAME,
                    container_port=APP_PORT,
                )
            ],
            health_check_grace_period_seconds=settings.health_check_grace_period_seconds,
            deployment_circuit_breaker=aws.ecs.ServiceDeploymentCircuitBreakerArgs(enable=True, rollback=True),
            deployment_minimum_healthy_percent=100,
            deployment_maximum_percent=settings.deployment_maximum_percent,
            wait_for_steady_state=True,  # a release that never turns healthy fails `pulumi up`
            propagate_tags="SERVICE",
            # Application Auto Scaling owns the task count after creation; without this every `pulumi up`
            # would reset a scaled-out service to `desired_count` in the middle of a deploy.
            opts=pulumi.ResourceOptions(parent=self, depends_on=prerequisites, ignore_changes=["desiredCount"]),
        )


def capacity_provider_strategy(spot_tasks: int) -> list[aws.ecs.ServiceCapacityProviderStrategyArgs]:
    """The first `spot_tasks` tasks on Fargate Spot (its base; weight 0: no task beyond the base), every other task
    - each one target tracking, a scheduled action or a deploy adds - on demand."""
    on_demand = aws.ecs.ServiceCapacityProviderStrategyArgs(capacity_provider=FARGATE, weight=1)
    if not spot_tasks:
        return [on_demand]
    spot = aws.ecs.ServiceCapacityProviderStrategyArgs(capacity_provider=FARGATE_SPOT, base=spot_tasks, weight=0)
    return [spot, on_demand]


def _lifecycle_rules(count: int) -> list[dict[str, Any]]:
    """Keep the images of the newest `count` released revisions, and the newest `count` images of any kind.

    A rollback targets a revision that served: after each good deploy the deploy workflow tags its image
    `released-<family>-<revision>` (scripts/deployment.py mark-released). An image that matches a rule's tags
    cannot be expired by a rule of lower priority, so failed deploys (each pushes an image) can never push the
    image of the revision serving now, or of the ones before it, out of the repository.
    """
    return [
        {
            "rulePriority": 1,
            "description": f"Keep the images of the last {count} released revisions",
            "selection": {
                "tagStatus": "tagged",
                "tagPrefixList": [RELEASED_TAG_PREFIX],
                "countType": "imageCountMoreThan",
                "countNumber": count,
            },
            "action": {"type": "expire"},
        },
        {
            "rulePriority": 2,
            "description": f"Keep the last {count} images",
            "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": count},
            "action": {"type": "expire"},
        },
    ]


def _execution_policy(repository_arn: str, log_group_arn: str, secret_arns: list[str]) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            # GetAuthorizationToken has no resource-level scoping; it grants no image access by itself.
            {"Sid": "EcrLogin", "Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
            {
                "Sid": "PullServiceImage",
                "Effect": "Allow",
                "Action": [
                    "ecr:BatchCheckLayerAvailability",
                    "ecr:GetDownloadUrlForLayer",
                    "ecr:BatchGetImage",
                ],
                "Resource": repository_arn,
            },
            {
                "Sid": "WriteServiceLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": f"{log_group_arn}:*",
            },
            {
                "Sid": "ReadServiceSecrets",
                "Effect": "Allow",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": sorted(secret_arns),
            },
        ],
    }


def _container_definition(
    settings: ComputeSettings,
    *,
    image: str,
    db_host: str,
    db_name: str,
    db_user: str,
    redis_host: str,
    log_group: str,
    db_password_arn: str,
    redis_auth_token_arn: str,
    jwt_private_key_arn: str,
) -> dict[str, Any]:
    environment = {
        "DB_HOST": db_host,
        "DB_PORT": str(DB_PORT),
        "DB_NAME": db_name,
        "DB_USER": db_user,
        # Verify RDS's certificate and host name against the CA bundle the image carries (auth_service/Dockerfile).
        "DB_SSLMODE": "verify-full",
        "DB_SSLROOTCERT": RDS_CA_BUNDLE_PATH,
        "REDIS_URL": f"rediss://{redis_host}:{REDIS_PORT}/0",
        "JWT_ISSUER": settings.jwt_issuer,
        "JWT_AUDIENCE": settings.jwt_audience,
        "ACCESS_TOKEN_TTL_SECONDS": str(settings.access_token_ttl_seconds),
        "TRUSTED_PROXY_COUNT": "1",
        # The venue NAT and other addresses thousands of people share: larger per-address limits (README).
        "SHARED_EGRESS_CIDRS": ",".join(settings.shared_egress_cidrs),
        "WEB_CONCURRENCY": str(settings.web_concurrency),
        # Sized so that every task of the scaling maximum, doubled by a rolling deploy, fits in max_connections
        # (components/config.py, ConnectionBudget).
        "DB_POOL_SIZE": str(settings.db_pool_size),
        # Each worker has half a vCPU: a second argon2 thread adds no throughput, only stalls the event loop
        # (docs/capacity.md: same logins per core, half the /health/live p99 during a login storm).
        "HASH_CONCURRENCY": "1",
        "LOG_LEVEL": settings.log_level,
        "ENVIRONMENT": settings.environment,
        "SERVICE_NAME": settings.service_name,
    }
    secrets = {
        "DB_PASSWORD": db_password_arn,
        "REDIS_AUTH_TOKEN": redis_auth_token_arn,
        "JWT_PRIVATE_KEY": jwt_private_key_arn,
    }
    return {
        "name": CONTAINER_NAME,
        "image": image,
        "essential": True,
        # The service writes nothing to disk: no bytecode (PYTHONDONTWRITEBYTECODE in the image), no temp files,
        # logs to stdout (tests/infra/test_compute.py, docs/container-contract.md).
        "readonlyRootFilesystem": True,
        "portMappings": [{"containerPort": APP_PORT, "protocol": "tcp"}],
        "environment": [{"name": key, "value": value} for key, value in environment.items()],
        "secrets": [{"name": key, "valueFrom": arn} for key, arn in secrets.items()],
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": log_group,
                "awslogs-region": settings.region,
                "awslogs-stream-prefix": CONTAINER_NAME,
                # A CloudWatch Logs outage must not freeze the service: in blocking mode every write to stdout
                # waits for the driver. Non-blocking buffers instead and drops lines only when the buffer is full.
                "mode": "non-blocking",
                "max-buffer-size": LOG_BUFFER_SIZE,
            },
        },
        "healthCheck": {
            "command": HEALTH_CHECK_COMMAND,
            "interval": 30,
            "timeout": 5,
            "retries": 3,
            "startPeriod": 60,
        },
    }
