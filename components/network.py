"""Network layer: VPC over two AZs, public/private subnets, NAT, and the four security groups.

Traffic allowed, and nothing else:
  internet --80--> ALB --8000--> ECS tasks --5432--> RDS
                                           --6379--> Redis
                                           --443---> internet via NAT (ECR, Secrets Manager, CloudWatch Logs)
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.config import APP_PORT, DB_PORT, REDIS_PORT, NetworkSettings

INGRESS = aws.vpc.SecurityGroupIngressRule
EGRESS = aws.vpc.SecurityGroupEgressRule

ANYWHERE = "0.0.0.0/0"
HTTP_PORT = 80
HTTPS_PORT = 443


@dataclass(frozen=True)
class NetworkArgs:
    settings: NetworkSettings


class Network(pulumi.ComponentResource):
    vpc: aws.ec2.Vpc
    public_subnets: list[aws.ec2.Subnet]
    private_subnets: list[aws.ec2.Subnet]
    internet_gateway: aws.ec2.InternetGateway
    nat_gateways: list[aws.ec2.NatGateway]
    private_default_routes: list[aws.ec2.Route]
    private_route_associations: list[aws.ec2.RouteTableAssociation]
    alb_security_group: aws.ec2.SecurityGroup
    ecs_security_group: aws.ec2.SecurityGroup
    db_security_group: aws.ec2.SecurityGroup
    redis_security_group: aws.ec2.SecurityGroup

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("aidlc:network:Network", name, None, opts)
        self._name = name
        self._child = pulumi.ResourceOptions(parent=self)
        settings = args.settings

        self.vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=settings.vpc_cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={"Name": f"{name}-vpc"},
            opts=self._child,
        )
        zones = aws.get_availability_zones_output(state="available").names
        public_cidrs, private_cidrs = _subnet_cidrs(settings.vpc_cidr, settings.az_count)
        self.public_subnets = [
            self._subnet(f"public-{i}", cidr, zones[i], public=True) for i, cidr in enumerate(public_cidrs)
        ]
        self.private_subnets = [
            self._subnet(f"private-{i}", cidr, zones[i], public=False) for i, cidr in enumerate(private_cidrs)
        ]
        self.internet_gateway = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=self.vpc.id, opts=self._child)
        self._route_public_subnets_to_internet()
        nat_count = settings.az_count if settings.nat_gateway_per_az else 1
        self.nat_gateways = [self._nat_gateway(i) for i in range(nat_count)]
        self.private_default_routes, self.private_route_associations = self._route_private_subnets_through_nat()
        self._security_groups()

        self.vpc_id = self.vpc.id
        self.public_subnet_ids = [subnet.id for subnet in self.public_subnets]
        self.private_subnet_ids = [subnet.id for subnet in self.private_subnets]
        self.register_outputs(
            {
                "vpc_id": self.vpc_id,
                "public_subnet_ids": self.public_subnet_ids,
                "private_subnet_ids": self.private_subnet_ids,
            }
        )

    # --- subnets and routes -------------------------------------------------------------------

    def _subnet(self, label: str, cidr: str, zone: pulumi.Input[str], public: bool) -> aws.ec2.Subnet:
        return aws.ec2.Subnet(
            f"{self._name}-{label}",
            vpc_id=self.vpc.id,
            cidr_block=cidr,
            availability_zone=zone,
            map_public_ip_on_launch=False,  # only the ALB and NAT live there, with their own addresses
            tags={"Name": f"{self._name}-{label}", "tier": "public" if public else "private"},
            opts=self._child,
        )

    @property
    def internet_attachment(self) -> list[pulumi.Resource]:
        """What AWS needs before it gives anything in the VPC a public IP address.

        Public IPs (NAT's address, an internet-facing load balancer) need the gateway attached; nothing in their
        inputs says so, and Pulumi would otherwise create them in parallel with it (`Gateway.NotAttached`).
        """
        return [self.internet_gateway]

    @property
    def private_egress(self) -> list[pulumi.Resource]:
        """What a task in a private subnet needs before it can reach ECR, Secrets Manager and CloudWatch Logs."""
        return [*self.private_default_routes, *self.private_route_associations]

    def _route_public_subnets_to_internet(self) -> None:
        table = aws.ec2.RouteTable(
            f"{self._name}-public",
            vpc_id=self.vpc.id,
            tags={"Name": f"{self._name}-public"},
            opts=self._child,
        )
        aws.ec2.Route(
            f"{self._name}-public-default",
            route_table_id=table.id,
            destination_cidr_block=ANYWHERE,
            gateway_id=self.internet_gateway.id,
            opts=self._child,
        )
        for i, subnet in enumerate(self.public_subnets):
            aws.ec2.RouteTableAssociation(
                f"{self._name}-public-{i}", route_table_id=table.id, subnet_id=subnet.id, opts=self._child
            )

    def _nat_gateway(self, index: int) -> aws.ec2.NatGateway:
        after_gateway = pulumi.ResourceOptions(parent=self, depends_on=self.internet_attachment)
        address = aws.ec2.Eip(f"{self._name}-nat-{index}", domain="vpc", opts=after_gateway)
        return aws.ec2.NatGateway(
            f"{self._name}-nat-{index}",
            allocation_id=address.id,
            subnet_id=self.public_subnets[index].id,
            tags={"Name": f"{self._name}-nat-{index}"},
            opts=after_gateway,
        )

    def _route_private_subnets_through_nat(
        self,
    ) -> tuple[list[aws.ec2.Route], list[aws.ec2.RouteTableAssociation]]:
        routes, associations = [], []
        for i, subnet in enumerate(self.private_subnets):
            nat = self.nat_gateways[i % len(self.nat_gateways)]
            table = aws.ec2.RouteTable(
                f"{self._name}-private-{i}",
                vpc_id=self.vpc.id,
                tags={"Name": f"{self._name}-private-{i}"},
                opts=self._child,
            )
            routes.append(
                aws.ec2.Route(
                    f"{self._name}-private-{i}-default",
                    route_table_id=table.id,
                    destination_cidr_block=ANYWHERE,
                    nat_gateway_id=nat.id,
                    opts=self._child,
                )
            )
            associations.append(
                aws.ec2.RouteTableAssociation(
                    f"{self._name}-private-{i}", route_table_id=table.id, subnet_id=subnet.id, opts=self._child
                )
            )
        return routes, associations

    # --- security groups ----------------------------------------------------------------------

    def _security_groups(self) -> None:
        # A SecurityGroup without inline rules has no egress at all (the provider removes AWS's
        # default allow-all rule); every permitted flow below is one explicit rule resource.
        self.alb_security_group = self._group("alb", "Load balancer: HTTP from the internet")
        self.ecs_security_group = self._group("ecs", "Service tasks: app port from the load balancer")
        self.db_security_group = self._group("db", "PostgreSQL: from the service tasks only")
        self.redis_security_group = self._group("redis", "Redis: from the service tasks only")
        alb, ecs = self.alb_security_group, self.ecs_security_group

        self._rule(INGRESS, "alb-http-in", alb, HTTP_PORT, "HTTP from anywhere (no TLS by choice)", cidr=ANYWHERE)
        self._rule(EGRESS, "alb-to-ecs", alb, APP_PORT, "to the service tasks", peer=ecs)
        self._rule(INGRESS, "ecs-from-alb", ecs, APP_PORT, "from the load balancer", peer=alb)
        self._rule(EGRESS, "ecs-https-out", ecs, HTTPS_PORT, "ECR, Secrets Manager, CloudWatch Logs", cidr=ANYWHERE)
        self._rule(EGRESS, "ecs-to-db", ecs, DB_PORT, "to PostgreSQL", peer=self.db_security_group)
        self._rule(EGRESS, "ecs-to-redis", ecs, REDIS_PORT, "to Redis", peer=self.redis_security_group)
        self._rule(INGRESS, "db-from-ecs", self.db_security_group, DB_PORT, "from the service tasks", peer=ecs)
        self._rule(INGRESS, "redis-from-ecs", self.redis_security_group, REDIS_PORT, "from the service tasks", peer=ecs)

    def _group(self, label: str, description: str) -> aws.ec2.SecurityGroup:
        return aws.ec2.SecurityGroup(
            f"{self._name}-{label}",
            vpc_id=self.vpc.id,
            description=description,
            tags={"Name": f"{self._name}-{label}"},
            opts=self._child,
        )

    def _rule(
        self,
        rule_type: type[INGRESS] | type[EGRESS],
        label: str,
        group: aws.ec2.SecurityGroup,
        port: int,
        description: str,
        *,
        cidr: str | None = None,
        peer: aws.ec2.SecurityGroup | None = None,
    ) -> None:
        """One TCP port to or from exactly one peer (a CIDR or another security group)."""
        rule_type(
            f"{self._name}-{label}",
            security_group_id=group.id,
            ip_protocol="tcp",
            from_port=port,
            to_port=port,
            cidr_ipv4=cidr,
            referenced_security_group_id=peer.id if peer else None,
            description=description,
            opts=self._child,
        )


def _subnet_cidrs(vpc_cidr: str, az_count: int) -> tuple[list[str], list[str]]:
    """Carve /20s out of the VPC: the first `az_count` are public, the next `az_count` private."""
    blocks = [str(block) for block in ipaddress.ip_network(vpc_cidr).subnets(new_prefix=20)]
    return blocks[:az_count], blocks[az_count : 2 * az_count]
