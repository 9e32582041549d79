"""Policy rules on crafted resources (passing and failing), the CrossGuard wrappers, and the whole mocked stack."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import unknown_checking_proxy

from policy import pack, rules
from scripts.offline_stack import ROOT, StackGraph

GOOD_CONTAINER = {
    "name": "auth",
    "environment": [
        {"name": "DB_HOST", "value": "db.internal"},
        {"name": "REDIS_URL", "value": "rediss://master.redis.internal:6379/0"},
        {"name": "ACCESS_TOKEN_TTL_SECONDS", "value": "900"},
    ],
    "secrets": [{"name": "DB_PASSWORD", "valueFrom": "arn:aws:secretsmanager:us-east-1:1:secret:db-AbC"}],
}


def task(**container: Any) -> dict[str, Any]:
    return {"containerDefinitions": json.dumps([{**GOOD_CONTAINER, **container}])}


def ingress(cidr: str, port: int, protocol: str = "tcp", **extra: Any) -> dict[str, Any]:
    return {"cidrIpv4": cidr, "ipProtocol": protocol, "fromPort": port, "toPort": port, **extra}


COMPLIANT: list[tuple[str, dict[str, Any]]] = [
    (rules.RDS_INSTANCE, {"publiclyAccessible": False, "storageEncrypted": True}),
    (rules.RDS_INSTANCE, {"storageEncrypted": True}),  # publiclyAccessible defaults to false
    (rules.REPLICATION_GROUP, {"atRestEncryptionEnabled": True, "transitEncryptionEnabled": True}),
    (rules.ECR_REPOSITORY, {"imageScanningConfiguration": {"scanOnPush": True}}),
    (rules.SG_INGRESS_RULE, ingress("0.0.0.0/0", 80)),
    (rules.SG_INGRESS_RULE, ingress("10.0.0.0/16", 5432)),
    (
        rules.SG_INGRESS_RULE,
        {"referencedSecurityGroupId": "sg-alb", "ipProtocol": "tcp", "fromPort": 8000, "toPort": 8000},
    ),
    (rules.SG_RULE, {"type": "egress", "cidrBlocks": ["0.0.0.0/0"], "protocol": "tcp", "fromPort": 443, "toPort": 443}),
    (rules.SG, {"ingress": [{"cidrBlocks": ["0.0.0.0/0"], "protocol": "tcp", "fromPort": 80, "toPort": 80}]}),
    (rules.ECS_SERVICE, {"networkConfiguration": {"assignPublicIp": False, "subnets": ["subnet-a"]}}),
    (rules.TASK_DEFINITION, task()),
    (rules.TASK_DEFINITION, {"containerDefinitions": None}),  # unknown during preview
    ("aws:cloudwatch/metricAlarm:MetricAlarm", {"metricName": "CPUUtilization", "actionsEnabled": False}),
    (rules.IAM_ROLE, {"permissionsBoundary": "arn:aws:iam::1:policy/auth-staging-permissions-boundary"}),
]

VIOLATING: list[tuple[str, str, dict[str, Any]]] = [
    ("rds-not-public", rules.RDS_INSTANCE, {"publiclyAccessible": True, "storageEncrypted": True}),
    ("rds-storage-encrypted", rules.RDS_INSTANCE, {"publiclyAccessible": False}),
    ("rds-storage-encrypted", rules.RDS_INSTANCE, {"storageEncrypted": False}),
    ("elasticache-encrypted", rules.REPLICATION_GROUP, {"transitEncryptionEnabled": True}),
    ("elasticache-encrypted", rules.REPLICATION_GROUP, {"atRestEncryptionEnabled": True}),
    ("elasticache-encrypted", rules.CACHE_CLUSTER, {"engine": "redis"}),
    ("ecr-scan-on-push", rules.ECR_REPOSITORY, {"imageScanningConfiguration": {"scanOnPush": False}}),
    ("ecr-scan-on-push", rules.ECR_REPOSITORY, {}),
    ("no-world-ingress-except-http", rules.SG_INGRESS_RULE, ingress("0.0.0.0/0", 22)),
    ("no-world-ingress-except-http", rules.SG_INGRESS_RULE, ingress("0.0.0.0/0", 80, protocol="-1")),
    (
        "no-world-ingress-except-http",
        rules.SG_INGRESS_RULE,
        {"cidrIpv6": "::/0", "ipProtocol": "tcp", "fromPort": 0, "toPort": 65535},
    ),
    (
        "no-world-ingress-except-http",
        rules.SG_RULE,
        {"type": "ingress", "cidrBlocks": ["0.0.0.0/0"], "protocol": "tcp", "fromPort": 5432, "toPort": 5432},
    ),
    (
        "no-world-ingress-except-http",
        rules.SG,
        {"ingress": [{"cidrBlocks": ["0.0.0.0/0"], "protocol": "tcp", "fromPort": 443, "toPort": 443}]},
    ),
    ("no-public-ip-on-tasks", rules.ECS_SERVICE, {"networkConfiguration": {"assignPublicIp": True}}),
    (
        "secrets-only-via-secrets",
        rules.TASK_DEFINITION,
        task(environment=[{"name": "DB_PASSWORD", "value": "hunter2"}]),
    ),
    ("secrets-only-via-secrets", rules.TASK_DEFINITION, task(environment=[{"name": "REDIS_AUTH_TOKEN", "value": "x"}])),
    (
        "secrets-only-via-secrets",
        rules.TASK_DEFINITION,
        task(environment=[{"name": "REDIS_URL", "value": "rediss://:s3cret@redis:6379/0"}]),
    ),
    (
        "secrets-only-via-secrets",
        rules.TASK_DEFINITION,
        task(environment=[{"name": "SIGNING", "value": "-----BEGIN PRIVATE KEY-----\nMC4C"}]),
    ),
    (
        "secrets-only-via-secrets",
        rules.TASK_DEFINITION,
        task(secrets=[{"name": "JWT_PRIVATE_KEY", "valueFrom": "plain-text-key"}]),
    ),
    ("roles-carry-the-boundary", rules.IAM_ROLE, {"assumeRolePolicy": "{}"}),
    ("roles-carry-the-boundary", rules.IAM_ROLE, {"permissionsBoundary": ""}),
]


@pytest.mark.parametrize(("resource_type", "props"), COMPLIANT)
def test_compliant_resource_passes_every_rule(resource_type: str, props: dict[str, Any]) -> None:
    assert rules.violations(resource_type, props) == []


@pytest.mark.parametrize(("rule", "resource_type", "props"), VIOLATING)
def test_violation_is_reported_by_its_rule(rule: str, resource_type: str, props: dict[str, Any]) -> None:
    found = rules.violations(resource_type, props)
    assert found
    assert {name for name, _ in found} == {rule}


def test_every_rule_has_a_failing_case() -> None:
    assert {rule.name for rule in rules.RULES} == {name for name, _, _ in VIOLATING}


def test_world_ingress_is_allowed_only_on_load_balancer_groups() -> None:
    lb = (rules.LOAD_BALANCER, {"securityGroups": ["sg-alb"]})
    alb_rule = (rules.SG_INGRESS_RULE, ingress("0.0.0.0/0", 80, securityGroupId="sg-alb"))
    task_rule = (rules.SG_INGRESS_RULE, ingress("0.0.0.0/0", 80, securityGroupId="sg-ecs"))
    assert rules.world_ingress_groups_are_load_balancer_groups([lb, alb_rule]) == []
    problems = rules.world_ingress_groups_are_load_balancer_groups([lb, alb_rule, task_rule])
    assert len(problems) == 1
    assert "sg-ecs" in problems[0]


# ------------------------------------------------------------------------------- the pack's wrappers


def _validate(policy: ResourceValidationPolicy, resource_type: str, props: dict[str, Any]) -> list[str]:
    reported: list[str] = []
    proxied = unknown_checking_proxy(props)  # read-only Mapping proxies, as the engine hands them over
    args = ResourceValidationArgs(resource_type, proxied, "urn:test", "test", _options(), None)
    policy.validate(args, lambda message, _urn: reported.append(message))
    return reported


def _options() -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


def test_pack_has_one_mandatory_policy_per_rule_plus_the_stack_check() -> None:
    policies = pack.policies()
    assert [p.name for p in policies] == [*(r.name for r in rules.RULES), rules.WORLD_INGRESS_ON_ALB_ONLY]
    assert all(p.enforcement_level == EnforcementLevel.MANDATORY for p in policies)


@pytest.mark.parametrize(("rule", "resource_type", "props"), VIOLATING)
def test_pack_reports_violations(rule: str, resource_type: str, props: dict[str, Any]) -> None:
    (policy,) = [p for p in pack.policies() if p.name == rule]
    assert isinstance(policy, ResourceValidationPolicy)
    assert _validate(policy, resource_type, props)


@pytest.mark.parametrize(("resource_type", "props"), COMPLIANT)
def test_pack_accepts_compliant_resources(resource_type: str, props: dict[str, Any]) -> None:
    for policy in pack.policies():
        if isinstance(policy, ResourceValidationPolicy):
            assert _validate(policy, resource_type, props) == []


def test_pack_stack_policy_reports_a_world_open_task_group() -> None:
    (policy,) = [p for p in pack.policies() if isinstance(p, StackValidationPolicy)]
    resources = [
        PolicyResource(
            rules.LOAD_BALANCER, {"securityGroups": ["sg-alb"]}, "urn:lb", "lb", _options(), None, None, [], {}
        ),
        PolicyResource(
            rules.SG_INGRESS_RULE,
            ingress("0.0.0.0/0", 80, securityGroupId="sg-ecs"),
            "urn:r",
            "r",
            _options(),
            None,
            None,
            [],
            {},
        ),
    ]
    reported: list[str] = []
    policy.validate(StackValidationArgs(resources), lambda message, _urn: reported.append(message))
    assert reported


# ------------------------------------------------------------------------------- the real stack


def test_the_staging_stack_breaks_no_rule(staging: StackGraph) -> None:
    found = {(r.name, rule, message) for r in staging.resources for rule, message in rules.violations(r.typ, r.plain)}
    assert found == set()
    assert rules.world_ingress_groups_are_load_balancer_groups((r.typ, r.plain) for r in staging.resources) == []


def test_the_rules_see_the_stacks_resources(staging: StackGraph) -> None:
    """Guards against the rules passing vacuously because of a renamed type token."""
    checked = {r.typ for r in staging.resources for rule in rules.RULES if r.typ in rule.resource_types}
    assert checked >= {
        rules.RDS_INSTANCE,
        rules.REPLICATION_GROUP,
        rules.ECR_REPOSITORY,
        rules.SG_INGRESS_RULE,
        rules.ECS_SERVICE,
        rules.TASK_DEFINITION,
        rules.IAM_ROLE,
    }
    world_rules = [r for r in staging.of_type(rules.SG_INGRESS_RULE) if r.plain.get("cidrIpv4") == "0.0.0.0/0"]
    assert len(world_rules) == 1


def test_pack_entry_point_serves_the_pack(tmp_path: Path) -> None:
    """`python policy/__main__.py` is what the CLI's analyzer runs: it must print its gRPC port and serve."""
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "policy" / "__main__.py")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
    )
    try:
        assert process.stdout is not None
        port = process.stdout.readline().decode().strip()
        assert port.isdigit(), process.stderr.read().decode() if process.stderr else port
    finally:
        process.kill()
        process.wait(timeout=10)
