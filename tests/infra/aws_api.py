"""Each recorded resource as the AWS API call(s) that create it, judged against botocore's service models.

`calls_for(resource)` maps a mocked resource's inputs (the provider's camelCase names) onto the request of the call
that creates it in AWS; `problems(params, shape)` walks that request through the operation's input shape and
reports what AWS would refuse: unknown members, missing required ones, wrong types (botocore's own
`ParamValidator`), and the `min`/`max`/`pattern`/`enum` constraints that validator skips. Every input of a mapped
resource must be either mapped to a member or listed as the provider's own (`PROVIDER_ONLY`); an input or a resource
type with no row is a failure, so nothing new escapes the check. JSON documents inside strings (container
definitions, IAM policies, the ECR lifecycle policy, the dashboard) are parsed and judged too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import botocore.session
from botocore.model import ListShape, MapShape, OperationModel, Shape, StructureShape
from botocore.validate import ParamValidator

from scripts.offline_stack import Resource


@dataclass(frozen=True)
class Call:
    service: str
    operation: str
    params: dict[str, Any]


class Unmapped(Exception):
    """A resource type, or an input of a mapped one, that no row of the table knows."""


@cache
def operation(service: str, name: str) -> OperationModel:
    return botocore.session.get_session().get_service_model(service).operation_model(name)


def integral(value: Any) -> Any:
    """Pulumi mocks hand numbers back as floats: 8000.0 -> 8000, so integer shapes validate."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: integral(item) for key, item in value.items()}
    if isinstance(value, list):
        return [integral(item) for item in value]
    return value


def pascal(name: str) -> str:
    return name[:1].upper() + name[1:]


def pick(
    resource: Resource, members: Mapping[str, str], *, provider_only: Iterable[str] = (), auto: bool = True
) -> dict[str, Any]:
    """The request members for `resource`'s inputs: `members` renames, `auto` maps the rest camel -> Pascal
    (only used where the API's names are the Pascal form of the provider's), `provider_only` are settings of the
    provider or of Pulumi that no create call takes."""
    params: dict[str, Any] = {}
    ignored = set(provider_only) | {"tags", "tagsAll"}  # tags: the TagSpecifications / Tags forms differ per API
    for key, value in integral(resource.plain).items():
        if key in members:
            params[members[key]] = value
        elif key in ignored:
            continue
        elif auto:
            params[pascal(key)] = value
        else:
            raise Unmapped(f"{resource.typ} input {key!r} has no member in the map")
    return params


def physical_name(resource: Resource) -> str:
    """The name the program set, or the mock's stand-in for Pulumi's autoname (logical name + '-' + 7 chars)."""
    return str(resource.plain.get("name") or resource.state["name"])


# ----------------------------------------------------------------------------------------- per resource type


def _vpc(r: Resource) -> list[Call]:
    params = pick(r, {}, provider_only={"enableDnsSupport", "enableDnsHostnames"})
    attributes = [
        Call("ec2", "ModifyVpcAttribute", {"VpcId": "vpc-0", key: {"Value": r.plain[flag]}})
        for key, flag in (("EnableDnsSupport", "enableDnsSupport"), ("EnableDnsHostnames", "enableDnsHostnames"))
        if flag in r.plain
    ]
    return [Call("ec2", "CreateVpc", params), *attributes]


def _subnet(r: Resource) -> list[Call]:
    params = pick(r, {}, provider_only={"mapPublicIpOnLaunch"})
    return [
        Call("ec2", "CreateSubnet", params),
        Call(
            "ec2",
            "ModifySubnetAttribute",
            {"SubnetId": "subnet-0", "MapPublicIpOnLaunch": {"Value": r.plain.get("mapPublicIpOnLaunch", False)}},
        ),
    ]


def _internet_gateway(r: Resource) -> list[Call]:
    return [
        Call("ec2", "CreateInternetGateway", pick(r, {}, provider_only={"vpcId"})),
        Call("ec2", "AttachInternetGateway", {"InternetGatewayId": "igw-0", "VpcId": r.plain["vpcId"]}),
    ]


def _security_group(r: Resource) -> list[Call]:
    params = pick(r, {"description": "Description", "vpcId": "VpcId"}, auto=False)
    return [Call("ec2", "CreateSecurityGroup", {"GroupName": physical_name(r), **params})]


def _group_rule(operation_name: str) -> Callable[[Resource], list[Call]]:
    def calls(r: Resource) -> list[Call]:
        p = integral(r.plain)
        known = {"securityGroupId", "ipProtocol", "fromPort", "toPort", "cidrIpv4", "referencedSecurityGroupId",
                 "description"}  # fmt: skip
        if unknown := set(p) - known - {"tags"}:
            raise Unmapped(f"{r.typ} inputs {sorted(unknown)} have no member in the map")
        permission: dict[str, Any] = {"IpProtocol": p["ipProtocol"], "FromPort": p["fromPort"], "ToPort": p["toPort"]}
        if "cidrIpv4" in p:
            permission["IpRanges"] = [{"CidrIp": p["cidrIpv4"], "Description": p.get("description", "")}]
        if "referencedSecurityGroupId" in p:
            permission["UserIdGroupPairs"] = [
                {"GroupId": p["referencedSecurityGroupId"], "Description": p.get("description", "")}
            ]
        return [Call("ec2", operation_name, {"GroupId": p["securityGroupId"], "IpPermissions": [permission]})]

    return calls


def _eip(r: Resource) -> list[Call]:
    return [Call("ec2", "AllocateAddress", pick(r, {}))]


def _nat_gateway(r: Resource) -> list[Call]:
    return [Call("ec2", "CreateNatGateway", pick(r, {}))]


def _route_table(r: Resource) -> list[Call]:
    return [Call("ec2", "CreateRouteTable", pick(r, {}))]


def _route(r: Resource) -> list[Call]:
    return [Call("ec2", "CreateRoute", pick(r, {}))]


def _route_table_association(r: Resource) -> list[Call]:
    return [Call("ec2", "AssociateRouteTable", pick(r, {}))]


def _load_balancer(r: Resource) -> list[Call]:
    params = pick(
        r,
        {"loadBalancerType": "Type", "internal": "Scheme", "subnets": "Subnets", "securityGroups": "SecurityGroups"},
        provider_only={"dropInvalidHeaderFields"},
        auto=False,
    )
    params["Scheme"] = "internal" if params["Scheme"] else "internet-facing"
    attributes = Call(
        "elbv2",
        "ModifyLoadBalancerAttributes",
        {
            "LoadBalancerArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/x/1",
            "Attributes": [
                {
                    "Key": "routing.http.drop_invalid_header_fields.enabled",
                    "Value": str(r.plain.get("dropInvalidHeaderFields", False)).lower(),
                }
            ],
        },
    )
    return [Call("elbv2", "CreateLoadBalancer", {"Name": physical_name(r), **params}), attributes]


HEALTH_CHECK_MEMBERS = {
    "path": "HealthCheckPath",
    "interval": "HealthCheckIntervalSeconds",
    "timeout": "HealthCheckTimeoutSeconds",
    "healthyThreshold": "HealthyThresholdCount",
    "unhealthyThreshold": "UnhealthyThresholdCount",
    "matcher": "Matcher",
    "protocol": "HealthCheckProtocol",
    "port": "HealthCheckPort",
    "enabled": "HealthCheckEnabled",
}


def _target_group(r: Resource) -> list[Call]:
    params = pick(
        r,
        {"port": "Port", "protocol": "Protocol", "targetType": "TargetType", "vpcId": "VpcId"},
        provider_only={"healthCheck", "deregistrationDelay"},
        auto=False,
    )
    for key, value in integral(r.plain.get("healthCheck", {})).items():
        if key not in HEALTH_CHECK_MEMBERS:
            raise Unmapped(f"{r.typ} healthCheck.{key} has no member in the map")
        params[HEALTH_CHECK_MEMBERS[key]] = {"HttpCode": value} if key == "matcher" else value
    delay = Call(
        "elbv2",
        "ModifyTargetGroupAttributes",
        {
            "TargetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/x/1",
            "Attributes": [
                {"Key": "deregistration_delay.timeout_seconds", "Value": str(integral(r.plain["deregistrationDelay"]))}
            ],
        },
    )
    return [Call("elbv2", "CreateTargetGroup", {"Name": physical_name(r), **params}), delay]


def _listener(r: Resource) -> list[Call]:
    p = integral(r.plain)
    actions = [{"Type": action["type"], "TargetGroupArn": action["targetGroupArn"]} for action in p["defaultActions"]]
    pick(r, {}, auto=False, provider_only={"loadBalancerArn", "port", "protocol", "defaultActions"})
    params = {"LoadBalancerArn": p["loadBalancerArn"], "Port": p["port"], "Protocol": p["protocol"]}
    return [Call("elbv2", "CreateListener", {**params, "DefaultActions": actions})]


def _cluster(r: Resource) -> list[Call]:
    params = pick(r, {"settings": "settings"}, auto=False)
    return [Call("ecs", "CreateCluster", {"clusterName": physical_name(r), **params})]


def _cluster_capacity_providers(r: Resource) -> list[Call]:
    params = pick(
        r,
        {"clusterName": "cluster", "capacityProviders": "capacityProviders",
         "defaultCapacityProviderStrategies": "defaultCapacityProviderStrategy"},
        auto=False,
    )  # fmt: skip
    # A required member of the request: with no default strategy configured it is an empty list.
    params.setdefault("defaultCapacityProviderStrategy", [])
    return [Call("ecs", "PutClusterCapacityProviders", params)]


def _task_definition(r: Resource) -> list[Call]:
    p = integral(r.plain)
    params = pick(
        r,
        {key: key for key in ("family", "cpu", "memory", "networkMode", "requiresCompatibilities",
                              "runtimePlatform", "executionRoleArn", "taskRoleArn")},
        provider_only={"containerDefinitions", "skipDestroy", "trackLatest"},
        auto=False,
    )  # fmt: skip
    params["containerDefinitions"] = json.loads(p["containerDefinitions"])
    return [Call("ecs", "RegisterTaskDefinition", params)]


def _service(r: Resource) -> list[Call]:
    p = integral(r.plain)
    params = pick(
        r,
        {"cluster": "cluster", "taskDefinition": "taskDefinition", "launchType": "launchType",
         "capacityProviderStrategies": "capacityProviderStrategy",
         "desiredCount": "desiredCount", "loadBalancers": "loadBalancers",
         "healthCheckGracePeriodSeconds": "healthCheckGracePeriodSeconds", "propagateTags": "propagateTags"},
        provider_only={"waitForSteadyState", "networkConfiguration", "deploymentCircuitBreaker",
                       "deploymentMinimumHealthyPercent", "deploymentMaximumPercent", "forceNewDeployment",
                       "enableExecuteCommand", "triggers"},
        auto=False,
    )  # fmt: skip
    network = p["networkConfiguration"]
    params["networkConfiguration"] = {
        "awsvpcConfiguration": {
            "subnets": network["subnets"],
            "securityGroups": network.get("securityGroups", []),
            "assignPublicIp": "ENABLED" if network.get("assignPublicIp") else "DISABLED",
        }
    }
    deployment: dict[str, Any] = {"deploymentCircuitBreaker": p["deploymentCircuitBreaker"]}
    for key in ("deploymentMinimumHealthyPercent", "deploymentMaximumPercent"):
        if key in p:
            deployment[key.replace("deploymentM", "m")] = p[key]
    params["deploymentConfiguration"] = deployment
    return [Call("ecs", "CreateService", {"serviceName": physical_name(r), **params})]


def _repository(r: Resource) -> list[Call]:
    params = pick(
        r,
        {"imageScanningConfiguration": "imageScanningConfiguration", "imageTagMutability": "imageTagMutability"},
        provider_only={"forceDelete"},
        auto=False,
    )
    return [Call("ecr", "CreateRepository", {"repositoryName": physical_name(r), **params})]


def _lifecycle_policy(r: Resource) -> list[Call]:
    params = pick(r, {"repository": "repositoryName", "policy": "lifecyclePolicyText"}, auto=False)
    return [Call("ecr", "PutLifecyclePolicy", params)]


def _log_group(r: Resource) -> list[Call]:
    pick(r, {}, provider_only={"name", "retentionInDays"}, auto=False)
    calls = [Call("logs", "CreateLogGroup", {"logGroupName": physical_name(r)})]
    if "retentionInDays" in r.plain:
        retention = {"logGroupName": physical_name(r), "retentionInDays": integral(r.plain["retentionInDays"])}
        calls.append(Call("logs", "PutRetentionPolicy", retention))
    return calls


def _role(r: Resource) -> list[Call]:
    params = pick(
        r,
        {"assumeRolePolicy": "AssumeRolePolicyDocument", "description": "Description",
         "permissionsBoundary": "PermissionsBoundary", "path": "Path", "maxSessionDuration": "MaxSessionDuration"},
        auto=False,
    )  # fmt: skip
    return [Call("iam", "CreateRole", {"RoleName": physical_name(r), **params})]


def _role_policy(r: Resource) -> list[Call]:
    params = pick(r, {"role": "RoleName", "policy": "PolicyDocument"}, auto=False)
    return [Call("iam", "PutRolePolicy", {"PolicyName": physical_name(r), **params})]


def _secret(r: Resource) -> list[Call]:
    params = pick(r, {"description": "Description"}, provider_only={"recoveryWindowInDays"}, auto=False)
    deletion = {"SecretId": "x", "RecoveryWindowInDays": integral(r.plain["recoveryWindowInDays"])}
    return [Call("secretsmanager", "CreateSecret", {"Name": physical_name(r), **params}),
            Call("secretsmanager", "DeleteSecret", deletion)]  # fmt: skip


def _secret_version(r: Resource) -> list[Call]:
    return [Call("secretsmanager", "PutSecretValue", pick(r, {"secretId": "SecretId", "secretString": "SecretString"},
                                                          auto=False))]  # fmt: skip


def _db_instance(r: Resource) -> list[Call]:
    params = pick(
        r,
        {"identifier": "DBInstanceIdentifier", "instanceClass": "DBInstanceClass", "dbName": "DBName",
         "username": "MasterUsername", "password": "MasterUserPassword", "parameterGroupName": "DBParameterGroupName",
         "dbSubnetGroupName": "DBSubnetGroupName", "multiAz": "MultiAZ",
         "enabledCloudwatchLogsExports": "EnableCloudwatchLogsExports"},
        provider_only={"applyImmediately", "skipFinalSnapshot", "finalSnapshotIdentifier", "deleteAutomatedBackups"},
    )  # fmt: skip
    deletion = {"DBInstanceIdentifier": r.plain["identifier"], "SkipFinalSnapshot": r.plain["skipFinalSnapshot"],
                "FinalDBSnapshotIdentifier": r.plain["finalSnapshotIdentifier"],
                "DeleteAutomatedBackups": r.plain.get("deleteAutomatedBackups", True)}  # fmt: skip
    return [Call("rds", "CreateDBInstance", params), Call("rds", "DeleteDBInstance", deletion)]


def _db_subnet_group(r: Resource) -> list[Call]:
    params = pick(r, {"description": "DBSubnetGroupDescription", "subnetIds": "SubnetIds"}, auto=False)
    return [Call("rds", "CreateDBSubnetGroup", {"DBSubnetGroupName": physical_name(r), **params})]


def _db_parameter_group(r: Resource) -> list[Call]:
    params = pick(r, {"family": "DBParameterGroupFamily", "description": "Description"}, provider_only={"parameters"},
                  auto=False)  # fmt: skip
    name = physical_name(r)
    parameters = [
        {"ParameterName": p["name"], "ParameterValue": p["value"], "ApplyMethod": p.get("applyMethod", "immediate")}
        for p in r.plain.get("parameters", [])
    ]
    return [
        Call("rds", "CreateDBParameterGroup", {"DBParameterGroupName": name, **params}),
        Call("rds", "ModifyDBParameterGroup", {"DBParameterGroupName": name, "Parameters": parameters}),
    ]


def _replication_group(r: Resource) -> list[Call]:
    params = pick(
        r,
        {"description": "ReplicationGroupDescription", "nodeType": "CacheNodeType",
         "subnetGroupName": "CacheSubnetGroupName", "numCacheClusters": "NumCacheClusters",
         "multiAzEnabled": "MultiAZEnabled"},
        provider_only={"applyImmediately"},
    )  # fmt: skip
    return [Call("elasticache", "CreateReplicationGroup", {"ReplicationGroupId": physical_name(r), **params})]


def _cache_subnet_group(r: Resource) -> list[Call]:
    params = pick(r, {"description": "CacheSubnetGroupDescription", "subnetIds": "SubnetIds"}, auto=False)
    return [Call("elasticache", "CreateCacheSubnetGroup", {"CacheSubnetGroupName": physical_name(r), **params})]


def _metric_alarm(r: Resource) -> list[Call]:
    p = integral(r.plain)
    params = pick(
        r,
        {"alarmDescription": "AlarmDescription"},
        provider_only={"dimensions", "evaluateLowSampleCountPercentiles"},
    )
    params["AlarmName"] = physical_name(r)
    params["Dimensions"] = [{"Name": key, "Value": value} for key, value in p.get("dimensions", {}).items()]
    if "evaluateLowSampleCountPercentiles" in p:
        params["EvaluateLowSampleCountPercentile"] = p["evaluateLowSampleCountPercentiles"]
    return [Call("cloudwatch", "PutMetricAlarm", params)]


def _dashboard(r: Resource) -> list[Call]:
    return [Call("cloudwatch", "PutDashboard", pick(r, {}))]


def _scalable_target(r: Resource) -> list[Call]:
    return [Call("application-autoscaling", "RegisterScalableTarget", pick(r, {}, provider_only={"roleArn"}))]


def _scaling_policy(r: Resource) -> list[Call]:
    params = pick(r, {"targetTrackingScalingPolicyConfiguration": "TargetTrackingScalingPolicyConfiguration"})
    params["PolicyName"] = physical_name(r)
    params.pop("Name", None)
    config = params.get("TargetTrackingScalingPolicyConfiguration")
    if config is not None:
        params["TargetTrackingScalingPolicyConfiguration"] = _pascal_tree(config)
    return [Call("application-autoscaling", "PutScalingPolicy", params)]


def _scheduled_action(r: Resource) -> list[Call]:
    params = pick(r, {"scalableTargetAction": "ScalableTargetAction"}, provider_only={"startTime", "endTime"})
    params["ScheduledActionName"] = physical_name(r)
    params.pop("Name", None)
    if "ScalableTargetAction" in params:
        params["ScalableTargetAction"] = _pascal_tree(params["ScalableTargetAction"])
    return [Call("application-autoscaling", "PutScheduledAction", params)]


def _ssm_parameter(r: Resource) -> list[Call]:
    # `insecureValue` is `value` that the provider does not mark secret: the same PutParameter Value.
    params = pick(r, {"type": "Type", "value": "Value", "insecureValue": "Value", "description": "Description",
                      "tier": "Tier", "dataType": "DataType", "allowedPattern": "AllowedPattern", "keyId": "KeyId"},
                  provider_only={"overwrite", "name"}, auto=False)  # fmt: skip
    return [Call("ssm", "PutParameter", {"Name": physical_name(r), **params})]


def _image(r: Resource) -> list[Call]:
    """The build is local; the push ends in ECR's PutImage of `<registry>/<repository>:<tag>`."""
    pick(r, {}, provider_only={"imageName", "build", "registry", "buildOnPreview", "skipPush"}, auto=False)
    repository_and_tag = str(r.plain["imageName"]).split("/", 1)[1]
    repository, _, tag = repository_and_tag.rpartition(":")
    return [Call("ecr", "PutImage", {"repositoryName": repository, "imageManifest": "{}", "imageTag": tag})]


def _pascal_tree(value: Any) -> Any:
    if isinstance(value, dict):
        return {pascal(key): _pascal_tree(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_pascal_tree(item) for item in value]
    return value


ROWS: dict[str, Callable[[Resource], list[Call]]] = {
    "aws:ec2/vpc:Vpc": _vpc,
    "aws:ec2/subnet:Subnet": _subnet,
    "aws:ec2/internetGateway:InternetGateway": _internet_gateway,
    "aws:ec2/securityGroup:SecurityGroup": _security_group,
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": _group_rule("AuthorizeSecurityGroupIngress"),
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": _group_rule("AuthorizeSecurityGroupEgress"),
    "aws:ec2/eip:Eip": _eip,
    "aws:ec2/natGateway:NatGateway": _nat_gateway,
    "aws:ec2/routeTable:RouteTable": _route_table,
    "aws:ec2/route:Route": _route,
    "aws:ec2/routeTableAssociation:RouteTableAssociation": _route_table_association,
    "aws:lb/loadBalancer:LoadBalancer": _load_balancer,
    "aws:lb/targetGroup:TargetGroup": _target_group,
    "aws:lb/listener:Listener": _listener,
    "aws:ecs/cluster:Cluster": _cluster,
    "aws:ecs/clusterCapacityProviders:ClusterCapacityProviders": _cluster_capacity_providers,
    "aws:ecs/taskDefinition:TaskDefinition": _task_definition,
    "aws:ecs/service:Service": _service,
    "aws:ecr/repository:Repository": _repository,
    "aws:ecr/lifecyclePolicy:LifecyclePolicy": _lifecycle_policy,
    "aws:cloudwatch/logGroup:LogGroup": _log_group,
    "aws:cloudwatch/metricAlarm:MetricAlarm": _metric_alarm,
    "aws:cloudwatch/dashboard:Dashboard": _dashboard,
    "aws:iam/role:Role": _role,
    "aws:iam/rolePolicy:RolePolicy": _role_policy,
    "aws:secretsmanager/secret:Secret": _secret,
    "aws:secretsmanager/secretVersion:SecretVersion": _secret_version,
    "aws:rds/instance:Instance": _db_instance,
    "aws:rds/subnetGroup:SubnetGroup": _db_subnet_group,
    "aws:rds/parameterGroup:ParameterGroup": _db_parameter_group,
    "aws:elasticache/replicationGroup:ReplicationGroup": _replication_group,
    "aws:elasticache/subnetGroup:SubnetGroup": _cache_subnet_group,
    "aws:appautoscaling/target:Target": _scalable_target,
    "aws:appautoscaling/policy:Policy": _scaling_policy,
    "aws:appautoscaling/scheduledAction:ScheduledAction": _scheduled_action,
    "aws:ssm/parameter:Parameter": _ssm_parameter,
    "docker:index/image:Image": _image,
}

# Registered resources that make no AWS API call of their own, each with why.
NO_AWS_CALL = {
    "random:index/randomPassword:RandomPassword": "generated by the random provider, in the state only",
    "random:index/randomId:RandomId": "generated by the random provider, in the state only",
    "tls:index/privateKey:PrivateKey": "generated by the tls provider, in the state only",
}


def calls_for(resource: Resource) -> list[Call]:
    if resource.typ in NO_AWS_CALL or not resource.custom:
        return []
    row = ROWS.get(resource.typ)
    if row is None:
        raise Unmapped(f"{resource.typ} ({resource.name}) has no row: map it to the AWS call that creates it")
    return row(resource)


# ------------------------------------------------------------------------------------------------- judging


def problems(call: Call, exempt: frozenset[str] = frozenset()) -> list[str]:
    """What AWS would refuse in `call`; `exempt` are values another resource produced (AWS's own, not ours)."""
    shape = operation(call.service, call.operation).input_shape
    found: list[str] = []
    report = ParamValidator().validate(call.params, shape)
    if report.has_errors():
        found.append(report.generate_report())
    found += _constraints(call.params, shape, call.operation, exempt)
    found += _documents(call)
    found += _names(call)
    return found


# Naming rules AWS documents but the service models do not carry (RDS "Naming constraints", ElastiCache
# CreateReplicationGroup, ELB CreateLoadBalancer/CreateTargetGroup): 1-63 (RDS), 1-40 (ElastiCache), 1-32 (ELB)
# letters, digits and hyphens, starting with a letter (RDS, ElastiCache) and never ending with a hyphen or holding two.
def _hyphenated(first: str, longest: int, *, not_prefix: str = "") -> re.Pattern[str]:
    """`longest` letters, digits and hyphens at most, starting with `first`, no `--`, no trailing hyphen."""
    refuse = f"(?!{not_prefix})" if not_prefix else ""
    return re.compile(rf"^{refuse}{first}(?!.*--)[A-Za-z0-9-]{{0,{longest - 1}}}(?<!-)$")


NAME_RULES = {
    ("rds", "CreateDBInstance", "DBInstanceIdentifier"): _hyphenated("[A-Za-z]", 63),
    ("rds", "CreateDBParameterGroup", "DBParameterGroupName"): _hyphenated("[A-Za-z]", 255),
    ("rds", "DeleteDBInstance", "FinalDBSnapshotIdentifier"): _hyphenated("[A-Za-z]", 255),
    ("elasticache", "CreateReplicationGroup", "ReplicationGroupId"): _hyphenated("[A-Za-z]", 40),
    ("elbv2", "CreateLoadBalancer", "Name"): _hyphenated("[A-Za-z0-9]", 32, not_prefix="internal-"),
    ("elbv2", "CreateTargetGroup", "Name"): _hyphenated("[A-Za-z0-9]", 32),
}


def _names(call: Call) -> list[str]:
    found = []
    for (service, operation_name, member), rule in NAME_RULES.items():
        value = call.params.get(member)
        if (service, operation_name) == (call.service, call.operation) and value is not None and not rule.match(value):
            found.append(f"{operation_name}.{member}: {value!r} breaks the documented naming rule {rule.pattern!r}")
    return found


def _constraints(value: Any, shape: Shape, path: str, exempt: frozenset[str]) -> list[str]:
    meta = shape.metadata
    found: list[str] = []
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        for key, item in value.items():
            if key in shape.members:
                found += _constraints(item, shape.members[key], f"{path}.{key}", exempt)
    elif isinstance(shape, ListShape) and isinstance(value, list):
        found += _bounds(len(value), meta, path, "items")
        for n, item in enumerate(value):
            found += _constraints(item, shape.member, f"{path}[{n}]", exempt)
    elif isinstance(shape, MapShape) and isinstance(value, dict):
        for key, item in value.items():
            found += _constraints(key, shape.key, f"{path} key", exempt)
            found += _constraints(item, shape.value, f"{path}[{key}]", exempt)
    elif shape.type_name == "string" and isinstance(value, str) and value not in exempt:
        if shape.enum and value not in shape.enum:
            found.append(f"{path}: {value!r} is not one of {shape.enum}")
        found += _bounds(len(value), meta, path, "characters")
        pattern = meta.get("pattern")
        if pattern and _compiles(pattern) and not _matches(pattern, value):
            found.append(f"{path}: {value!r} does not match {pattern!r}")
    elif shape.type_name in {"integer", "long", "double", "float"} and isinstance(value, int | float):
        found += _bounds(value, meta, path, "")
    return found


def _bounds(size: float, meta: Mapping[str, Any], path: str, unit: str) -> list[str]:
    low, high = meta.get("min"), meta.get("max")
    if low is not None and size < low:
        return [f"{path}: {size:g} {unit} is below the minimum {low}".replace("  ", " ")]
    if high is not None and size > high:
        return [f"{path}: {size:g} {unit} is above the maximum {high}".replace("  ", " ")]
    return []


def _matches(pattern: str, value: str) -> bool:
    """An anchored pattern as written; an unanchored one (`[a-z]+`) constrains the whole value, as AWS enforces it."""
    if pattern.startswith("^") or pattern.endswith("$"):
        return re.search(pattern, value, re.DOTALL) is not None
    return re.fullmatch(pattern, value, re.DOTALL) is not None


@cache
def _compiles(pattern: str) -> bool:
    try:
        re.compile(pattern)
    except re.error:
        return False  # a Java-only construct; botocore's models carry a few
    return True


# --- JSON documents inside string members -------------------------------------------------------------------

POLICY_DOCUMENTS = {("iam", "CreateRole"): "AssumeRolePolicyDocument", ("iam", "PutRolePolicy"): "PolicyDocument"}
ACTION = re.compile(r"^([a-z0-9-]+:[A-Za-z0-9*?]+|\*)$")
STATEMENT_KEYS = {"Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource",
                  "Condition"}  # fmt: skip


def _documents(call: Call) -> list[str]:
    member = POLICY_DOCUMENTS.get((call.service, call.operation))
    if member is not None:
        return [f"{call.operation}.{member}: {p}" for p in iam_policy_problems(call.params[member])]
    if (call.service, call.operation) == ("ecr", "PutLifecyclePolicy"):
        return [f"PutLifecyclePolicy: {p}" for p in lifecycle_policy_problems(call.params["lifecyclePolicyText"])]
    if (call.service, call.operation) == ("cloudwatch", "PutDashboard"):
        body = json.loads(call.params["DashboardBody"])
        return [] if isinstance(body.get("widgets"), list) and body["widgets"] else ["PutDashboard: no widgets"]
    return []


def _strings(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def iam_policy_problems(text: str) -> list[str]:
    """The IAM policy grammar's shape: Version, Statement(s) with Effect, Action|NotAction, Resource|NotResource
    (or a Principal, in a trust policy)."""
    try:
        policy = json.loads(text)
    except ValueError as exc:
        return [f"not JSON: {exc}"]
    found = []
    if policy.get("Version") != "2012-10-17":
        found.append(f"Version {policy.get('Version')!r} is not '2012-10-17'")
    statements = _strings(policy.get("Statement"))
    if not statements or not all(isinstance(s, dict) for s in statements):
        return [*found, "Statement must be an object or a non-empty list of objects"]
    sids = [s["Sid"] for s in statements if "Sid" in s]
    if len(sids) != len(set(sids)):
        found.append(f"duplicate Sid in {sids}")
    for n, statement in enumerate(statements):
        where = f"Statement[{n}]"
        if unknown := set(statement) - STATEMENT_KEYS:
            found.append(f"{where}: unknown keys {sorted(unknown)}")
        if statement.get("Effect") not in {"Allow", "Deny"}:
            found.append(f"{where}: Effect {statement.get('Effect')!r} is not Allow or Deny")
        if ("Action" in statement) == ("NotAction" in statement):
            found.append(f"{where}: exactly one of Action and NotAction")
        for action in _strings(statement.get("Action", statement.get("NotAction", []))):
            if not isinstance(action, str) or not ACTION.match(action):
                found.append(f"{where}: action {action!r} is not service:Action")
        is_trust = "Principal" in statement or "NotPrincipal" in statement
        if not is_trust and ("Resource" in statement) == ("NotResource" in statement):
            found.append(f"{where}: exactly one of Resource and NotResource")
        for arn in _strings(statement.get("Resource", statement.get("NotResource", []))):
            if not isinstance(arn, str) or not (arn == "*" or arn.startswith("arn:")):
                found.append(f"{where}: resource {arn!r} is not an ARN or *")
        if "Sid" in statement and not re.fullmatch(r"[A-Za-z0-9]*", str(statement["Sid"])):
            found.append(f"{where}: Sid {statement['Sid']!r} is not alphanumeric")
        if "Condition" in statement and not isinstance(statement["Condition"], dict):
            found.append(f"{where}: Condition must be an object")
    return found


def lifecycle_policy_problems(text: str) -> list[str]:
    """ECR lifecycle policy rules (ECR user guide, lifecycle policy parameters)."""
    found = []
    rules = json.loads(text).get("rules")
    if not isinstance(rules, list) or not rules:
        return ["rules must be a non-empty list"]
    priorities = [rule.get("rulePriority") for rule in rules]
    if len(priorities) != len(set(priorities)) or not all(isinstance(p, int) and p >= 1 for p in priorities):
        found.append(f"rulePriority must be unique integers >= 1, got {priorities}")
    for rule in rules:
        selection = rule.get("selection", {})
        if selection.get("tagStatus") not in {"tagged", "untagged", "any"}:
            found.append(f"tagStatus {selection.get('tagStatus')!r}")
        if selection.get("countType") not in {"imageCountMoreThan", "sinceImagePushed"}:
            found.append(f"countType {selection.get('countType')!r}")
        if not isinstance(selection.get("countNumber"), int) or selection["countNumber"] < 1:
            found.append(f"countNumber {selection.get('countNumber')!r} must be an integer >= 1")
        if rule.get("action", {}).get("type") != "expire":
            found.append(f"action {rule.get('action')!r}: the only type is expire")
    return found
