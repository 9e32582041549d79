"""The stack's security promises as plain functions, shared by the CrossGuard pack and the mocks tests.

Each rule looks at one resource as (type token, property mapping) and returns violation messages; an empty
list means compliant. Properties are camelCase as Pulumi sends them to both a policy pack and a mock
monitor. Nothing here imports pulumi or pulumi_policy, so the same code runs in the pack (props are
read-only proxies) and in tests (props are dicts from the recording mocks).

Alarms without actions are compliant on purpose: by design there are no notifications, so no rule asks for them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Props = Mapping[str, Any]
Check = Callable[[str, Props], list[str]]

WORLD_CIDRS = frozenset({"0.0.0.0/0", "::/0"})
WORLD_OPEN_PORT = 80  # the ALB's HTTP listener: by design, no TLS and no domain
SECRET_ENV_NAME = re.compile(
    r"(^|_)(PASSWORD|PASSWD|SECRET|SECRET_KEY|PRIVATE_KEY|API_KEY|ACCESS_KEY|AUTH_TOKEN|TOKEN|CREDENTIALS?)$"
)
URL_WITH_CREDENTIALS = re.compile(r"^[a-z][a-z0-9+.-]*://[^/@\s]*:[^/@\s]+@", re.IGNORECASE)
SECRET_STORE_ARN = re.compile(r"^arn:aws[a-z-]*:(secretsmanager|ssm):")

RDS_INSTANCE = "aws:rds/instance:Instance"
RDS_CLUSTER = "aws:rds/cluster:Cluster"
RDS_CLUSTER_INSTANCE = "aws:rds/clusterInstance:ClusterInstance"
REPLICATION_GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
CACHE_CLUSTER = "aws:elasticache/cluster:Cluster"
ECR_REPOSITORY = "aws:ecr/repository:Repository"
SG = "aws:ec2/securityGroup:SecurityGroup"
SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
SG_INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
ECS_SERVICE = "aws:ecs/service:Service"
TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"
LOAD_BALANCER = "aws:lb/loadBalancer:LoadBalancer"
IAM_ROLE = "aws:iam/role:Role"


@dataclass(frozen=True)
class Rule:
    name: str  # the policy's name in the pack
    description: str
    resource_types: frozenset[str]
    check: Check

    def violations(self, resource_type: str, props: Props) -> list[str]:
        return self.check(resource_type, props) if resource_type in self.resource_types else []


def _true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _seq(value: Any) -> Sequence[Any]:
    return value if isinstance(value, Sequence) and not isinstance(value, str) else []


# ------------------------------------------------------------------------------------------- data stores


def _rds_not_public(_: str, props: Props) -> list[str]:
    return ["RDS must not be publicly accessible"] if _true(props.get("publiclyAccessible")) else []


def _rds_encrypted(_: str, props: Props) -> list[str]:
    return [] if _true(props.get("storageEncrypted")) else ["RDS storage must be encrypted (storageEncrypted)"]


def _elasticache_encrypted(resource_type: str, props: Props) -> list[str]:
    if resource_type == CACHE_CLUSTER:
        return ["use an ElastiCache replication group: a standalone cluster cannot encrypt at rest"]
    problems = []
    if not _true(props.get("atRestEncryptionEnabled")):
        problems.append("ElastiCache must encrypt at rest (atRestEncryptionEnabled)")
    if not _true(props.get("transitEncryptionEnabled")):
        problems.append("ElastiCache must encrypt in transit (transitEncryptionEnabled)")
    return problems


def _ecr_scan_on_push(_: str, props: Props) -> list[str]:
    scanning = props.get("imageScanningConfiguration")
    enabled = isinstance(scanning, Mapping) and _true(scanning.get("scanOnPush"))
    return [] if enabled else ["ECR repository must scan images on push"]


# ------------------------------------------------------------------------------------------------ network


def _world_ingress_problem(protocol: Any, from_port: Any, to_port: Any, cidrs: Iterable[Any]) -> list[str]:
    open_to = sorted(set(map(str, cidrs)) & WORLD_CIDRS)
    if not open_to:
        return []
    http_only = str(protocol).lower() in {"tcp", "6"} and from_port == to_port == WORLD_OPEN_PORT
    if http_only:
        return []
    return [
        f"ingress from {', '.join(open_to)} is allowed only on tcp/{WORLD_OPEN_PORT} (the ALB listener), "
        f"not {protocol} {from_port}-{to_port}"
    ]


def _no_world_ingress_except_http(resource_type: str, props: Props) -> list[str]:
    if resource_type == SG_INGRESS_RULE:
        cidrs = [props.get("cidrIpv4"), props.get("cidrIpv6")]
        return _world_ingress_problem(props.get("ipProtocol"), props.get("fromPort"), props.get("toPort"), cidrs)
    if resource_type == SG_RULE:
        if props.get("type") != "ingress":
            return []
        cidrs = [*_seq(props.get("cidrBlocks")), *_seq(props.get("ipv6CidrBlocks"))]
        return _world_ingress_problem(props.get("protocol"), props.get("fromPort"), props.get("toPort"), cidrs)
    problems: list[str] = []
    for block in _seq(props.get("ingress")):
        cidrs = [*_seq(block.get("cidrBlocks")), *_seq(block.get("ipv6CidrBlocks"))]
        problems += _world_ingress_problem(block.get("protocol"), block.get("fromPort"), block.get("toPort"), cidrs)
    return problems


def _no_public_ip_on_tasks(_: str, props: Props) -> list[str]:
    network = props.get("networkConfiguration")
    if isinstance(network, Mapping) and _true(network.get("assignPublicIp")):
        return ["ECS tasks must not get public IPs (networkConfiguration.assignPublicIp)"]
    return []


# ------------------------------------------------------------------------------------------------ secrets


def _secrets_only_via_secrets(_: str, props: Props) -> list[str]:
    raw = props.get("containerDefinitions")
    if not isinstance(raw, str):
        return []  # not known yet (preview); checked again on update
    problems: list[str] = []
    for container in json.loads(raw):
        problems += _container_secret_problems(container)
    return problems


def _container_secret_problems(container: Mapping[str, Any]) -> list[str]:
    name = container.get("name", "?")
    problems = []
    for item in container.get("environment") or []:
        key, value = str(item.get("name", "")), str(item.get("value", ""))
        if SECRET_ENV_NAME.search(key.upper()):
            problems.append(f"{name}: {key} looks like a secret; pass it in `secrets` (valueFrom), not `environment`")
        if "-----BEGIN" in value or URL_WITH_CREDENTIALS.search(value):
            problems.append(f"{name}: the value of {key} carries a credential; use `secrets`")
    for item in container.get("secrets") or []:
        if not SECRET_STORE_ARN.search(str(item.get("valueFrom", ""))):
            problems.append(f"{name}: secret {item.get('name')} must come from a Secrets Manager/SSM ARN")
    return problems


# ------------------------------------------------------------------------------------------- IAM


def _role_has_a_boundary(_: str, props: Props) -> list[str]:
    """The deploy role may only create roles that carry the stack's boundary; say so at preview, not mid-update."""
    boundary = props.get("permissionsBoundary")
    if isinstance(boundary, str) and boundary.startswith("arn:"):
        return []
    return ["IAM roles of this stack must carry its permissions boundary (permissionsBoundary)"]


RULES: tuple[Rule, ...] = (
    Rule(
        "rds-not-public",
        "RDS instances are not publicly accessible",
        frozenset({RDS_INSTANCE, RDS_CLUSTER_INSTANCE}),
        _rds_not_public,
    ),
    Rule(
        "rds-storage-encrypted",
        "RDS storage is encrypted at rest",
        frozenset({RDS_INSTANCE, RDS_CLUSTER}),
        _rds_encrypted,
    ),
    Rule(
        "elasticache-encrypted",
        "ElastiCache encrypts at rest and in transit",
        frozenset({REPLICATION_GROUP, CACHE_CLUSTER}),
        _elasticache_encrypted,
    ),
    Rule("ecr-scan-on-push", "ECR repositories scan images on push", frozenset({ECR_REPOSITORY}), _ecr_scan_on_push),
    Rule(
        "no-world-ingress-except-http",
        "Nothing is reachable from the internet except tcp/80 (the ALB)",
        frozenset({SG, SG_RULE, SG_INGRESS_RULE}),
        _no_world_ingress_except_http,
    ),
    Rule("no-public-ip-on-tasks", "ECS tasks run without public IPs", frozenset({ECS_SERVICE}), _no_public_ip_on_tasks),
    Rule(
        "secrets-only-via-secrets",
        "Secrets reach containers only through `secrets` (Secrets Manager ARNs)",
        frozenset({TASK_DEFINITION}),
        _secrets_only_via_secrets,
    ),
    Rule(
        "roles-carry-the-boundary",
        "Every IAM role of the stack carries the permissions boundary",
        frozenset({IAM_ROLE}),
        _role_has_a_boundary,
    ),
)


def violations(resource_type: str, props: Props) -> list[tuple[str, str]]:
    """(rule name, message) for every rule the resource breaks."""
    return [(rule.name, message) for rule in RULES for message in rule.violations(resource_type, props)]


# ------------------------------------------------------------------------------------------- stack-wide

WORLD_INGRESS_ON_ALB_ONLY = "world-ingress-only-on-the-alb"
WORLD_INGRESS_ON_ALB_ONLY_DESCRIPTION = "A security group open to the internet is attached only to load balancers"


def world_ingress_groups_are_load_balancer_groups(resources: Iterable[tuple[str, Props]]) -> list[str]:
    """Stack-wide: every group that takes world ingress (even on :80) belongs to a load balancer."""
    resources = list(resources)
    lb_groups = {str(g) for typ, props in resources if typ == LOAD_BALANCER for g in _seq(props.get("securityGroups"))}
    problems = []
    for typ, props in resources:
        if typ != SG_INGRESS_RULE:
            continue
        world_open = bool({props.get("cidrIpv4"), props.get("cidrIpv6")} & WORLD_CIDRS)
        if world_open and props.get("securityGroupId") not in lb_groups:
            problems.append(
                f"security group {props.get('securityGroupId')} takes internet ingress but is not a"
                " load balancer's group"
            )
    return problems
