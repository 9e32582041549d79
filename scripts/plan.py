"""`make plan`: list, offline, every resource the staging stack would create, grouped by component.

Runs the real __main__.py under the same recording mocks as tests/infra (no AWS, no Pulumi CLI,
no Docker) and prints the properties a reviewer cares about, and `after:` the resources each one
explicitly waits for (`depends_on`; edges through inputs are visible in the properties). Values
computed by AWS at deploy time (ids, ARNs, DNS names) are mock placeholders; secret inputs print
as [secret].

    python -m scripts.plan [--stack staging] [--program bootstrap]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from typing import Any

from components.config import ConnectionBudget, StackConfig, connection_budget
from scripts.offline_stack import ROOT, Resource, StackGraph, is_secret_wrapper, run_offline

# The inputs worth reading per resource type; other types print their name only.
REVIEWED: dict[str, list[str]] = {
    "aws:ec2/vpc:Vpc": ["cidrBlock", "enableDnsHostnames"],
    "aws:ec2/subnet:Subnet": ["cidrBlock", "availabilityZone", "tags.tier", "mapPublicIpOnLaunch"],
    "aws:ec2/route:Route": ["destinationCidrBlock", "gatewayId", "natGatewayId"],
    "aws:ec2/natGateway:NatGateway": ["subnetId"],
    "aws:ec2/securityGroup:SecurityGroup": ["description"],
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": [
        "securityGroupId", "ipProtocol", "fromPort", "toPort", "cidrIpv4", "referencedSecurityGroupId",
    ],
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": [
        "securityGroupId", "ipProtocol", "fromPort", "toPort", "cidrIpv4", "referencedSecurityGroupId",
    ],
    "aws:rds/instance:Instance": [
        "identifier", "engine", "engineVersion", "instanceClass", "parameterGroupName", "storageType",
        "allocatedStorage", "maxAllocatedStorage", "storageEncrypted", "publiclyAccessible", "multiAz",
        "backupRetentionPeriod", "deletionProtection", "skipFinalSnapshot", "finalSnapshotIdentifier", "dbName",
        "username", "password", "enabledCloudwatchLogsExports", "applyImmediately", "deleteAutomatedBackups",
    ],
    "aws:rds/parameterGroup:ParameterGroup": ["family", "parameters"],
    "random:index/randomId:RandomId": ["keepers"],
    "aws:elasticache/replicationGroup:ReplicationGroup": [
        "engine", "engineVersion", "nodeType", "numCacheClusters", "atRestEncryptionEnabled",
        "transitEncryptionEnabled", "authToken", "applyImmediately",
    ],
    "aws:secretsmanager/secret:Secret": ["description", "recoveryWindowInDays"],
    "aws:secretsmanager/secretVersion:SecretVersion": ["secretString"],
    "random:index/randomPassword:RandomPassword": ["length", "special"],
    "tls:index/privateKey:PrivateKey": ["algorithm"],
    "aws:ecr/repository:Repository": ["imageScanningConfiguration.scanOnPush", "forceDelete"],
    "docker:index/image:Image": ["build.context", "build.platform", "imageName"],
    "aws:ecs/cluster:Cluster": ["settings"],
    "aws:ecs/clusterCapacityProviders:ClusterCapacityProviders": ["capacityProviders"],
    "aws:cloudwatch/logGroup:LogGroup": ["name", "retentionInDays"],
    "aws:iam/role:Role": ["description", "permissionsBoundary"],
    "aws:iam/rolePolicy:RolePolicy": ["policy"],
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": ["url", "clientIdLists"],
    "aws:ecs/taskDefinition:TaskDefinition": ["cpu", "memory", "runtimePlatform.cpuArchitecture", "skipDestroy"],
    "aws:ecr/lifecyclePolicy:LifecyclePolicy": ["policy"],
    "aws:lb/loadBalancer:LoadBalancer": ["internal", "dropInvalidHeaderFields"],
    "aws:lb/targetGroup:TargetGroup": ["targetType", "port", "healthCheck.path", "healthCheck.matcher"],
    "aws:lb/listener:Listener": ["port", "protocol"],
    "aws:ecs/service:Service": [
        "desiredCount", "networkConfiguration.assignPublicIp", "deploymentCircuitBreaker", "deploymentMaximumPercent",
        "healthCheckGracePeriodSeconds", "waitForSteadyState", "capacityProviderStrategies", "forceNewDeployment",
    ],
    "aws:appautoscaling/target:Target": ["minCapacity", "maxCapacity"],
    "aws:appautoscaling/scheduledAction:ScheduledAction": ["schedule", "scalableTargetAction"],
}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="staging")
    parser.add_argument("--program", default=".", help="program directory: . (the stack) or bootstrap")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="config override, e.g. aidlc-auth-bootstrap:githubRepository=acme/aidlc-auth",
    )
    args = parser.parse_args()
    overrides = dict(item.split("=", 1) for item in args.set)
    graph = run_offline(stack=args.stack, program_dir=ROOT / args.program, config_overrides=overrides)
    print_plan(graph)
    return 0


def print_plan(graph: StackGraph) -> None:
    names = _names_by_id(graph)
    by_component: dict[str, list[Resource]] = defaultdict(list)
    for resource in graph.resources:
        if resource.custom and not resource.typ.startswith("pulumi:providers:"):
            by_component[resource.parent_type].append(resource)
    total = 0
    for component, resources in sorted(by_component.items()):
        print(f"\n{component}  ({len(resources)} resources)")
        for resource in sorted(resources, key=lambda r: (r.typ, r.name)):
            print(f"  + {resource.typ.split(':')[-1]:<26} {resource.name}")
            for line in _details(resource, names):
                print(f"      {line}")
        total += len(resources)
    print(f"\n{total} resources in {len(by_component)} components")
    print("\nOutputs:")
    for key, value in sorted(graph.outputs.items()):
        print(f"  {key}: {value}")
    config = graph.program.get("config")
    if isinstance(config, StackConfig):
        print_connection_budget(connection_budget(config))


def print_connection_budget(budget: ConnectionBudget) -> None:
    print(
        f"\nPostgreSQL connections: {budget.peak_tasks} tasks at most (scaling maximum x deploy surge)"
        f" x {budget.connections_per_task} = {budget.peak} <= alarm {budget.alarm_threshold:g}"
        f" < {budget.usable} usable of max_connections {budget.max_connections}"
    )


def _details(resource: Resource, names: dict[str, str]) -> list[str]:
    return _properties(resource, names) + _explicit_dependencies(resource)


def _properties(resource: Resource, names: dict[str, str]) -> list[str]:
    if resource.typ == "aws:ecs/taskDefinition:TaskDefinition":
        return _reviewed(resource, names) + _container_summary(resource, names)
    if resource.typ in ("aws:iam/rolePolicy:RolePolicy", "aws:iam/policy:Policy"):
        return _policy_summary(resource.plain["policy"])
    return _reviewed(resource, names)


def _explicit_dependencies(resource: Resource) -> list[str]:
    lines = ["protected (the engine refuses to delete it)"] if resource.protect else []
    if resource.depends_on:
        after = ", ".join(f"<{name}> ({typ.split(':')[-1]})" for typ, name in sorted(resource.depends_on))
        lines.append(f"after: {after}")
    return lines


def _reviewed(resource: Resource, names: dict[str, str]) -> list[str]:
    shown = []
    for path in REVIEWED.get(resource.typ, []):
        raw = _lookup(resource.inputs, path.split("."))
        if raw is None:
            continue
        value = "[secret]" if is_secret_wrapper(raw) else _readable(raw, names)
        shown.append(f"{path}={value}")
    return [" ".join(shown)] if shown else []


def _container_summary(task: Resource, names: dict[str, str]) -> list[str]:
    (container,) = json.loads(task.plain["containerDefinitions"])
    return [
        f"image={container['image']}",
        f"port={container['portMappings'][0]['containerPort']}",
        f"readonlyRootFilesystem={container.get('readonlyRootFilesystem', False)}",
        "environment=" + ", ".join(f"{e['name']}={e['value']}" for e in container["environment"]),
        "secrets (valueFrom the secret versions)="
        + ", ".join(f"{s['name']}={_readable(s['valueFrom'], names)}" for s in container["secrets"]),
        f"healthCheck={container['healthCheck']['command']}",
        "logs=" + ", ".join(f"{k}={v}" for k, v in container["logConfiguration"]["options"].items()),
    ]


def _policy_summary(policy_json: str) -> list[str]:
    return [
        f"{s['Sid']}: {s.get('Effect', 'Allow')} {s['Action']} on {s['Resource']}"
        + (f" if {json.dumps(s['Condition'])}" if "Condition" in s else "")
        for s in json.loads(policy_json)["Statement"]
    ]


def _lookup(value: Any, path: list[str]) -> Any:
    for key in path:
        if is_secret_wrapper(value):
            return value
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def _readable(value: Any, names: dict[str, str]) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str):
        return names.get(value, value)  # show references by the logical name they point to
    return json.dumps(value) if isinstance(value, dict | list) else str(value)


def _names_by_id(graph: StackGraph) -> dict[str, str]:
    names = {r.state["id"]: f"<{r.name}>" for r in graph.resources if r.custom}
    versions = graph.of_type("aws:secretsmanager/secretVersion:SecretVersion")
    names.update({v.state["secretArn"]: f"<{v.name} version>" for v in versions})  # ECS valueFrom
    return names


if __name__ == "__main__":
    sys.exit(main())
