"""The `staging` stack: network -> data -> compute (see docs/infra.md)."""

import pulumi

from components.autoscaling import AutoScaling, AutoScalingArgs, ScalingSettings
from components.compute import Compute, ComputeArgs
from components.config import load_config
from components.data import Data, DataArgs
from components.github_oidc import GithubOidc, GithubOidcArgs, GithubOidcSettings
from components.monitoring import AlarmThresholds, Monitoring, MonitoringArgs, redis_member_cluster_ids
from components.network import Network, NetworkArgs

config = load_config()

network = Network(config.name, NetworkArgs(config.network))
data = Data(config.name, DataArgs(config.data, network))
compute = Compute(config.name, ComputeArgs(config.compute, network, data))

# Operations (issue 4): auto scaling, dashboard + alarms, and optionally the roles GitHub Actions assumes.
settings = pulumi.Config()
scaling = AutoScaling(config.name, AutoScalingArgs(
    cluster_name=compute.cluster_name,
    ecs_service_name=compute.service_name,
    alb_arn_suffix=compute.alb_arn_suffix,
    target_group_arn_suffix=compute.target_group_arn_suffix,
    settings=ScalingSettings.from_config(settings),
))
monitoring = Monitoring(config.name, MonitoringArgs(
    region=config.compute.region,
    alb_arn_suffix=compute.alb_arn_suffix,
    target_group_arn_suffix=compute.target_group_arn_suffix,
    cluster_name=compute.cluster_name,
    ecs_service_name=compute.service_name,
    db_instance_identifier=data.db_instance_identifier,
    redis_member_cluster_ids=redis_member_cluster_ids(data.redis_replication_group_id,
                                                      config.data.cache_node_count),
    log_group_name=compute.log_group_name,
    metrics_service_name=config.compute.service_name,
    thresholds=AlarmThresholds.from_config(settings),
))
github = GithubOidcSettings.from_config(settings)
if github.enabled:
    ci_roles = GithubOidc(f"{config.name}-github", GithubOidcArgs(config.name, github))
    pulumi.export("github_preview_role_arn", ci_roles.preview_role.arn)
    pulumi.export("github_deploy_role_arn", ci_roles.deploy_role.arn)

pulumi.export("service_url", compute.service_url)
pulumi.export("ecr_repository_url", compute.ecr_repository_url)
pulumi.export("cluster_name", compute.cluster_name)
pulumi.export("service_name", compute.service_name)
pulumi.export("log_group_name", compute.log_group_name)
pulumi.export("dashboard_name", monitoring.dashboard_name)
