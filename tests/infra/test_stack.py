"""Whole-graph promises: outputs, every resource inside a component, no secret value in plain inputs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from scripts.offline_stack import StackGraph, is_secret_wrapper, resolve

LAYERS = {"aidlc:network:Network", "aidlc:data:Data", "aidlc:compute:Compute"}


def test_stack_outputs_the_url_and_the_names_an_operator_needs(staging: StackGraph) -> None:
    outputs = staging.outputs
    assert {"service_url", "ecr_repository_url", "cluster_name", "service_name", "log_group_name"} <= outputs.keys()
    alb = staging.one("aws:lb/loadBalancer:LoadBalancer")
    assert outputs["service_url"] == f"http://{alb.state['dnsName']}"
    assert outputs["ecr_repository_url"] == staging.one("aws:ecr/repository:Repository").state["repositoryUrl"]
    assert outputs["cluster_name"] == staging.one("aws:ecs/cluster:Cluster").state["name"]
    assert outputs["service_name"] == staging.one("aws:ecs/service:Service").state["name"]
    assert outputs["log_group_name"] == staging.by_name("auth-staging-logs").state["name"]
    assert not staging.secret_outputs


def test_every_resource_is_a_direct_child_of_a_layer_component(staging: StackGraph) -> None:
    components = [r for r in staging.resources if not r.custom]
    assert {c.typ for c in components} >= LAYERS
    for component in components:
        if component.typ in LAYERS:
            assert component.parent_type == "pulumi:pulumi:Stack", component.urn
    custom = [r for r in staging.resources if r.custom and not r.typ.startswith("pulumi:providers:")]
    assert len(custom) > 50
    orphans = [r.urn for r in custom if r.parent_type not in {c.typ for c in components}]
    assert not orphans, f"resources outside any component: {orphans}"


def strings_outside_secrets(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every (path, string) in an input tree, skipping values marked secret."""
    if is_secret_wrapper(value):
        return
    if isinstance(value, dict):
        for key, item in value.items():
            yield from strings_outside_secrets(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from strings_outside_secrets(item, f"{path}[{index}]")
    elif isinstance(value, str):
        yield path, value


def test_no_generated_secret_appears_in_any_non_secret_input(staging: StackGraph) -> None:
    secrets = staging.generated_secrets
    assert {"auth-staging-db-password", "auth-staging-redis-auth-token", "auth-staging-jwt-signing-key"} <= set(secrets)
    leaks = [
        f"{resource.typ} {resource.name}{path} contains {label}"
        for resource in staging.resources
        for path, text in strings_outside_secrets(resource.inputs)
        for label, secret in secrets.items()
        if secret in text
    ]
    assert not leaks
    exported = [str(value) for value in staging.outputs.values()]
    assert not [label for label, secret in secrets.items() if any(secret in text for text in exported)]


def test_components_expose_what_monitoring_and_autoscaling_need(staging: StackGraph) -> None:
    compute, data = staging.component("compute"), staging.component("data")
    alb = staging.one("aws:lb/loadBalancer:LoadBalancer").state
    target_group = staging.one("aws:lb/targetGroup:TargetGroup").state
    assert resolve(compute.alb_arn_suffix) == alb["arnSuffix"]
    assert resolve(compute.target_group_arn_suffix) == target_group["arnSuffix"]
    assert resolve(compute.cluster_name) == staging.one("aws:ecs/cluster:Cluster").state["name"]
    assert resolve(compute.service_name) == staging.one("aws:ecs/service:Service").state["name"]
    assert resolve(compute.log_group_name) == staging.by_name("auth-staging-logs").state["name"]
    assert compute.desired_count == 1
    assert resolve(data.db_instance_identifier) == staging.one("aws:rds/instance:Instance").state["identifier"]
    redis = staging.one("aws:elasticache/replicationGroup:ReplicationGroup")
    assert resolve(data.redis_replication_group_id) == redis.state["id"]
