"""The `staging` stack, read top-down like the architecture diagram (README, docs/infra.md).

Each component gets its settings and the outputs of the components before it; nothing else connects them.
The roles GitHub Actions runs as and the permissions boundary of this stack's roles come from the bootstrap
program (bootstrap/), applied first and never by CI.
"""

from pathlib import Path

import pulumi
import pulumi_aws as aws

from components.autoscaling import AutoScaling, AutoScalingArgs
from components.compute import Compute, ComputeArgs
from components.config import guard_stack_file, load_config
from components.data import Data, DataArgs
from components.github_oidc import permissions_boundary_arn
from components.monitoring import Monitoring, MonitoringArgs
from components.network import Network, NetworkArgs

guard_stack_file(Path(__file__).parent)
config = load_config()
account_id = aws.get_caller_identity_output().account_id
boundary = account_id.apply(lambda account: permissions_boundary_arn(config.name, account))

network = Network(config.name, NetworkArgs(config.network))
data = Data(
    config.name,
    DataArgs(
        settings=config.data,
        private_subnet_ids=network.private_subnet_ids,
        db_security_group_id=network.db_security_group.id,
        redis_security_group_id=network.redis_security_group.id,
    ),
)
compute = Compute(
    config.name,
    ComputeArgs(
        settings=config.compute,
        vpc_id=network.vpc_id,
        public_subnet_ids=network.public_subnet_ids,
        private_subnet_ids=network.private_subnet_ids,
        alb_security_group_id=network.alb_security_group.id,
        ecs_security_group_id=network.ecs_security_group.id,
        db_address=data.db_address,
        db_name=data.db_name,
        db_user=data.db_user,
        redis_host=data.redis_primary_endpoint,
        secret_arns=data.secret_arns,
        permissions_boundary_arn=boundary,
        after_internet_gateway=network.internet_attachment,
        after_private_egress=network.private_egress,
    ),
)
autoscaling = AutoScaling(
    config.name,
    AutoScalingArgs(
        cluster_name=compute.cluster_name,
        ecs_service_name=compute.service_name,
        alb_arn_suffix=compute.alb_arn_suffix,
        target_group_arn_suffix=compute.target_group_arn_suffix,
        settings=config.scaling,
        task_cpu_units=config.compute.task_cpu,
        spot_tasks=config.compute.spot_tasks,
    ),
)
monitoring = Monitoring(
    config.name,
    MonitoringArgs(
        region=config.compute.region,
        alb_arn_suffix=compute.alb_arn_suffix,
        target_group_arn_suffix=compute.target_group_arn_suffix,
        cluster_name=compute.cluster_name,
        ecs_service_name=compute.service_name,
        db_instance_identifier=data.db_instance_identifier,
        redis_member_cluster_ids=data.redis_member_cluster_ids,
        log_group_name=compute.log_group_name,
        metrics_service_name=config.compute.service_name,
        thresholds=config.alarms,
    ),
)

pulumi.export("service_url", compute.service_url)
pulumi.export("ecr_repository_url", compute.ecr_repository_url)
pulumi.export("cluster_name", compute.cluster_name)
pulumi.export("service_name", compute.service_name)
pulumi.export("log_group_name", compute.log_group_name)
# What this `up` asked the service to run; scripts/deployment.py checks that it really runs it.
pulumi.export("task_definition_arn", compute.task_definition_arn)
pulumi.export("dashboard_name", monitoring.dashboard_name)
pulumi.export("dashboard_url", monitoring.dashboard_url)
# Public keys handed out of band (docs/integration.md): another unit pins them through a StackReference.
pulumi.export("jwks", data.jwks)
pulumi.export("jwks_parameter_name", data.jwks_parameter.name)
# The database's names, for the point-in-time-restore runbook (docs/operations.md).
pulumi.export("db_instance_identifier", data.db_instance_identifier)
pulumi.export("db_subnet_group_name", data.db_subnet_group_name)
pulumi.export("db_parameter_group_name", data.db_parameter_group_name)
pulumi.export("db_security_group_id", network.db_security_group.id)
