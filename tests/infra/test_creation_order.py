"""The order the engine creates the stack in on a first `pulumi up`, as the mocks see it.

Pulumi creates in parallel whatever nothing orders; AWS refuses some of those races (a NAT gateway or an
internet-facing load balancer in a VPC whose internet gateway is not attached yet: `Gateway.NotAttached`,
`InvalidSubnet`), and others only fail later (tasks that start before their way out to ECR and Secrets Manager,
before their role may read the secrets, or before a secret has a value). The mocks record both kinds of edge:
explicit `depends_on` (a stack transformation) and inputs that carry another resource's output.
"""

from __future__ import annotations

from scripts.offline_stack import Key, Resource, StackGraph

IGW = "aws:ec2/internetGateway:InternetGateway"
ROUTE = "aws:ec2/route:Route"
ASSOCIATION = "aws:ec2/routeTableAssociation:RouteTableAssociation"


def keys(resources: list[Resource]) -> set[Key]:
    return {r.key for r in resources}


def private_egress(graph: StackGraph) -> set[Key]:
    private_subnets = {s.state["id"] for s in graph.subnets("private")}
    routes = [r for r in graph.of_type(ROUTE) if r.plain.get("natGatewayId")]
    associations = [a for a in graph.of_type(ASSOCIATION) if a.plain["subnetId"] in private_subnets]
    assert len(routes) == len(associations) == 2
    return keys(routes) | keys(associations)


def test_first_deploy_creates_everything_after_what_it_needs(staging: StackGraph) -> None:
    gateway = staging.one(IGW).key
    public_addresses = [
        *staging.of_type("aws:ec2/eip:Eip"),
        *staging.of_type("aws:ec2/natGateway:NatGateway"),
        *staging.of_type("aws:lb/loadBalancer:LoadBalancer"),
    ]
    assert len(public_addresses) == 3
    for resource in public_addresses:
        assert gateway in staging.prerequisites(resource), f"{resource.name} may race the internet gateway"

    secret_versions = keys(staging.of_type("aws:secretsmanager/secretVersion:SecretVersion"))
    assert len(secret_versions) == 3
    task_definition = staging.one("aws:ecs/taskDefinition:TaskDefinition")
    assert secret_versions <= staging.direct_prerequisites(task_definition), "valueFrom must come from the versions"

    service = staging.one("aws:ecs/service:Service")
    needed_before_the_first_task = (
        private_egress(staging)
        | secret_versions
        | {staging.one("aws:lb/listener:Listener").key, task_definition.key}
        | keys([p for p in staging.of_type("aws:iam/rolePolicy:RolePolicy") if p.name.endswith("-execution")])
    )
    missing = needed_before_the_first_task - staging.prerequisites(service)
    assert not missing, f"the ECS service may start before {sorted(missing)}"

    # The edges are real, not everything-depends-on-everything: the VPC waits for nothing, the gateway for the VPC.
    assert staging.prerequisites(staging.one("aws:ec2/vpc:Vpc")) == set()
    assert staging.prerequisites(staging.one(IGW)) == {staging.one("aws:ec2/vpc:Vpc").key}
