"""The offline plan judged the way AWS judges it: every recorded resource becomes the API request that creates it
and is validated against botocore's service model of that request (tests/infra/aws_api.py), including the length,
range, pattern and enum constraints botocore's own validator skips. The mocks accept anything; AWS does not.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Callable
from typing import Any

import pytest

from scripts.offline_stack import Resource, StackGraph
from tests.infra.aws_api import NO_AWS_CALL, ROWS, Unmapped, calls_for, iam_policy_problems, problems

# Resource types other work adds to this stack; mapped before they arrive, so their first commit is judged too.
PRE_MAPPED = (
    "aws:appautoscaling/scheduledAction:ScheduledAction",
    "aws:ssm/parameter:Parameter",
    "aws:ecr/lifecyclePolicy:LifecyclePolicy",
    "aws:rds/parameterGroup:ParameterGroup",
)


def judge(graph: StackGraph) -> dict[str, list[str]]:
    exempt = frozenset(graph._produced_by())  # ids, ARNs, endpoints: AWS's values, not the program's choice
    found: dict[str, list[str]] = {}
    for resource in graph.resources:
        for call in calls_for(resource):
            for problem in problems(call, exempt):
                found.setdefault(f"{resource.name} ({call.operation})", []).append(problem)
    return found


def test_every_recorded_resource_is_a_valid_request_to_aws(staging: StackGraph) -> None:
    assert judge(staging) == {}


def test_every_resource_type_of_the_stack_has_a_row(staging: StackGraph) -> None:
    custom = {r.typ for r in staging.resources if r.custom}
    assert custom <= set(ROWS) | set(NO_AWS_CALL)


def test_a_resource_type_without_a_row_fails() -> None:
    stranger = Resource("aws:s3/bucket:Bucket", "stray", {}, {"name": "stray"}, custom=True)
    with pytest.raises(Unmapped, match="has no row"):
        calls_for(stranger)


def test_an_input_without_a_member_fails(staging: StackGraph) -> None:
    group = copy.deepcopy(staging.security_group("alb"))
    group.inputs["revokeRulesOnDelete"] = True
    with pytest.raises(Unmapped, match="revokeRulesOnDelete"):
        calls_for(group)


@pytest.mark.parametrize("typ", PRE_MAPPED)
def test_the_resource_types_on_their_way_are_mapped(typ: str) -> None:
    assert typ in ROWS


# --- planted bad values: each is what the mocks accept and AWS refuses ---------------------------------------


def _plant(graph: StackGraph, typ: str, name_suffix: str, change: Callable[[dict[str, Any]], None]) -> StackGraph:
    planted = dataclasses.replace(graph, resources=copy.deepcopy(graph.resources))
    (resource,) = [r for r in planted.of_type(typ) if r.name.endswith(name_suffix)]
    change(resource.inputs)
    return planted


def _health_interval(inputs: dict[str, Any]) -> None:
    inputs["healthCheck"]["interval"] = 1.0  # CreateTargetGroup: 5-300 seconds


def _alarm_comparison(inputs: dict[str, Any]) -> None:
    inputs["comparisonOperator"] = "GreaterThan"  # not in the enum


def _alarm_description(inputs: dict[str, Any]) -> None:
    inputs["alarmDescription"] = "x" * 1025  # PutMetricAlarm: at most 1024 characters


def _container_cpu(inputs: dict[str, Any]) -> None:
    (container,) = json.loads(inputs["containerDefinitions"])
    container["portMappings"][0]["protocol"] = "http"  # tcp | udp
    inputs["containerDefinitions"] = json.dumps([container])


def _cache_name(inputs: dict[str, Any]) -> None:
    inputs["nodeType"] = 7.0  # a number where a string belongs


def _db_identifier(inputs: dict[str, Any]) -> None:
    inputs["identifier"] = "x" * 64  # CreateDBInstance: at most 63 characters


def _policy_effect(inputs: dict[str, Any]) -> None:
    policy = json.loads(inputs["policy"])
    policy["Statement"][0]["Effect"] = "Permit"
    inputs["policy"] = json.dumps(policy)


def _image_tag(inputs: dict[str, Any]) -> None:
    inputs["imageName"] = inputs["imageName"].rsplit(":", 1)[0] + ":" + "t" * 301  # PutImage: tags up to 300


def _log_group_name(inputs: dict[str, Any]) -> None:
    inputs["name"] = "/ecs/auth staging!"  # CreateLogGroup's pattern refuses spaces and !


PLANTED = [
    ("aws:lb/targetGroup:TargetGroup", "-tg", _health_interval, "HealthCheckIntervalSeconds"),
    ("aws:cloudwatch/metricAlarm:MetricAlarm", "-ecs-cpu-high", _alarm_comparison, "ComparisonOperator"),
    ("aws:cloudwatch/metricAlarm:MetricAlarm", "-ecs-cpu-high", _alarm_description, "AlarmDescription"),
    ("aws:ecs/taskDefinition:TaskDefinition", "-task", _container_cpu, "protocol"),
    ("aws:elasticache/replicationGroup:ReplicationGroup", "-redis", _cache_name, "CacheNodeType"),
    ("aws:rds/instance:Instance", "-db", _db_identifier, "DBInstanceIdentifier"),
    ("aws:iam/rolePolicy:RolePolicy", "-execution", _policy_effect, "Effect"),
    ("aws:cloudwatch/logGroup:LogGroup", "-staging-logs", _log_group_name, "logGroupName"),
    ("docker:index/image:Image", "-image", _image_tag, "imageTag"),
]


@pytest.mark.parametrize(("typ", "suffix", "change", "member"), PLANTED, ids=[p[2].__name__ for p in PLANTED])
def test_a_planted_bad_value_is_refused(
    staging: StackGraph, typ: str, suffix: str, change: Callable[[dict[str, Any]], None], member: str
) -> None:
    found = judge(_plant(staging, typ, suffix, change))
    assert found, "the planted value passed"
    assert any(member in problem for problems_of in found.values() for problem in problems_of), found


@pytest.mark.parametrize(
    ("policy", "problem"),
    [
        ({"Version": "2012-10-17", "Statement": []}, "non-empty"),
        ({"Version": "2008-10-17", "Statement": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}},
         "Version"),
        ({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "GetObject", "Resource": "*"}]},
         "service:Action"),
        ({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject"}]}, "Resource"),
        ({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "bucket"}]},
         "not an ARN"),
    ],
)  # fmt: skip
def test_the_iam_policy_grammar_is_judged(policy: dict[str, Any], problem: str) -> None:
    assert any(problem in found for found in iam_policy_problems(json.dumps(policy)))
