"""The `staging` stack, read top-down like the architecture diagram (README, docs/infra.md)."""

import pulumi

from components.autoscaling import AutoScaling, AutoScalingArgs
from components.compute import Compute, ComputeArgs
from components.config import load_config
from components.data import Data, DataArgs
from components.github_oidc import GithubOidc, GithubOidcArgs
from components.monitoring import Monitoring, MonitoringArgs
from components.network import Network, NetworkArgs

config = load_config()

network = Network(config.name, NetworkArgs(config.network))
data = Data(config.name, DataArgs(config.data, network))
compute = Compute(config.name, ComputeArgs(config.compute, network, data))
AutoScaling(config.name, AutoScalingArgs.for_service(compute, config.scaling))
monitoring = Monitoring(config.name, MonitoringArgs.for_stack(config, data, compute))

if config.github.enabled:  # optional: the roles GitHub Actions assumes through OIDC
    ci_roles = GithubOidc(f"{config.name}-github", GithubOidcArgs(config.name, config.github))
    pulumi.export("github_preview_role_arn", ci_roles.preview_role.arn)
    pulumi.export("github_deploy_role_arn", ci_roles.deploy_role.arn)

pulumi.export("service_url", compute.service_url)
pulumi.export("ecr_repository_url", compute.ecr_repository_url)
pulumi.export("cluster_name", compute.cluster_name)
pulumi.export("service_name", compute.service_name)
pulumi.export("log_group_name", compute.log_group_name)
pulumi.export("dashboard_name", monitoring.dashboard_name)
pulumi.export("dashboard_url", monitoring.dashboard_url)
