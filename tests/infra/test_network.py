"""Network promises: two AZs, private subnets reach the internet only via NAT, exact SG rules."""

from __future__ import annotations

from collections.abc import Callable

from scripts.offline_stack import Resource, StackGraph

ANYWHERE = "0.0.0.0/0"
ROUTE = "aws:ec2/route:Route"
ASSOCIATION = "aws:ec2/routeTableAssociation:RouteTableAssociation"


def routes_of_table(graph: StackGraph, table_id: str) -> list[Resource]:
    return [r for r in graph.of_type(ROUTE) if r.plain["routeTableId"] == table_id]


def table_of_subnet(graph: StackGraph, subnet: Resource) -> str:
    (association,) = [a for a in graph.of_type(ASSOCIATION) if a.plain["subnetId"] == subnet.state["id"]]
    return association.plain["routeTableId"]


def test_vpc_spans_two_azs_with_a_public_and_a_private_subnet_in_each(staging: StackGraph) -> None:
    vpc = staging.one("aws:ec2/vpc:Vpc").plain
    assert vpc["enableDnsHostnames"] is True
    public, private = staging.subnets("public"), staging.subnets("private")
    assert len(public) == len(private) == 2
    assert {s.plain["availabilityZone"] for s in public} == {"us-east-1a", "us-east-1b"}
    assert {s.plain["availabilityZone"] for s in private} == {"us-east-1a", "us-east-1b"}
    assert all(s.plain["mapPublicIpOnLaunch"] is False for s in public + private)
    assert len(staging.of_type("aws:ec2/subnet:Subnet")) == 4


def test_public_subnets_route_to_the_internet_gateway(staging: StackGraph) -> None:
    gateway_id = staging.one("aws:ec2/internetGateway:InternetGateway").state["id"]
    for subnet in staging.subnets("public"):
        routes = routes_of_table(staging, table_of_subnet(staging, subnet))
        assert [(r.plain["destinationCidrBlock"], r.plain.get("gatewayId")) for r in routes] == [(ANYWHERE, gateway_id)]


def test_private_subnets_reach_the_internet_only_through_nat(staging: StackGraph) -> None:
    nat_ids = {nat.state["id"] for nat in staging.of_type("aws:ec2/natGateway:NatGateway")}
    for subnet in staging.subnets("private"):
        routes = routes_of_table(staging, table_of_subnet(staging, subnet))
        assert len(routes) == 1, f"{subnet.name} has extra routes"
        route = routes[0].plain
        assert route["destinationCidrBlock"] == ANYWHERE
        assert route.get("natGatewayId") in nat_ids
        assert "gatewayId" not in route, "a private subnet must not route to the internet gateway"


def test_nat_gateways_sit_in_public_subnets(staging: StackGraph) -> None:
    public_ids = {s.state["id"] for s in staging.subnets("public")}
    nats = staging.of_type("aws:ec2/natGateway:NatGateway")
    assert nats and all(nat.plain["subnetId"] in public_ids for nat in nats)


def test_one_nat_for_staging_and_one_per_az_by_config(
    staging: StackGraph, run_stack: Callable[..., StackGraph]
) -> None:
    assert len(staging.of_type("aws:ec2/natGateway:NatGateway")) == 1

    per_az = run_stack(config_overrides={"aidlc-auth:natGatewayPerAz": "true"})
    nats = {nat.state["id"]: nat for nat in per_az.of_type("aws:ec2/natGateway:NatGateway")}
    assert len(nats) == 2
    for subnet in per_az.subnets("private"):
        (route,) = routes_of_table(per_az, table_of_subnet(per_az, subnet))
        nat_subnet = per_az.by_id(nats[route.plain["natGatewayId"]].plain["subnetId"])
        assert nat_subnet.plain["availabilityZone"] == subnet.plain["availabilityZone"]


def describe_rules(graph: StackGraph, typ: str) -> set[tuple[str, int, int, str, str]]:
    """(group, from, to, protocol, peer) with groups and peers named by their logical names."""
    described = set()
    for rule in graph.of_type(typ):
        inputs = rule.plain
        peer = inputs.get("cidrIpv4") or graph.name_of(inputs["referencedSecurityGroupId"])
        assert not {"cidrIpv6", "prefixListId"} & inputs.keys(), f"{rule.name} opens more than intended"
        described.add(
            (
                graph.name_of(inputs["securityGroupId"]),
                int(inputs["fromPort"]),
                int(inputs["toPort"]),
                inputs["ipProtocol"],
                peer,
            )
        )
    return described


def test_each_security_group_allows_exactly_the_intended_ingress(staging: StackGraph) -> None:
    assert describe_rules(staging, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule") == {
        ("auth-staging-alb", 80, 80, "tcp", ANYWHERE),
        ("auth-staging-ecs", 8000, 8000, "tcp", "auth-staging-alb"),
        ("auth-staging-db", 5432, 5432, "tcp", "auth-staging-ecs"),
        ("auth-staging-redis", 6379, 6379, "tcp", "auth-staging-ecs"),
    }


def test_each_security_group_allows_exactly_the_intended_egress(staging: StackGraph) -> None:
    assert describe_rules(staging, "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule") == {
        ("auth-staging-alb", 8000, 8000, "tcp", "auth-staging-ecs"),
        ("auth-staging-ecs", 443, 443, "tcp", ANYWHERE),
        ("auth-staging-ecs", 5432, 5432, "tcp", "auth-staging-db"),
        ("auth-staging-ecs", 6379, 6379, "tcp", "auth-staging-redis"),
    }


def test_nothing_else_opens_a_security_group(staging: StackGraph) -> None:
    groups = staging.of_type("aws:ec2/securityGroup:SecurityGroup")
    assert len(groups) == 4
    for group in groups:
        assert not {"ingress", "egress"} & group.plain.keys(), f"{group.name} has inline rules"
    assert not staging.of_type("aws:ec2/securityGroupRule:SecurityGroupRule")
