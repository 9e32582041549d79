"""The `staging` stack, read top-down like the architecture diagram (README, docs/infra.md).

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
data = Data(config.name, DataArgs(config.data, network))
compute = Compute(config.name, ComputeArgs(config.compute, network, data, boundary))
AutoScaling(config.name, AutoScalingArgs.for_service(compute, config.scaling))
monitoring = Monitoring(config.name, MonitoringArgs.for_stack(config, data, compute))

pulumi.export("service_url", compute.service_url)
pulumi.export("ecr_repository_url", compute.ecr_repository_url)
pulumi.export("cluster_name", compute.cluster_name)
pulumi.export("service_name", compute.service_name)
pulumi.export("log_group_name", compute.log_group_name)
pulumi.export("dashboard_name", monitoring.dashboard_name)
pulumi.export("dashboard_url", monitoring.dashboard_url)
