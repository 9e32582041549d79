"""The `staging` stack: network -> data -> compute (see docs/infra.md)."""

import pulumi

from components.compute import Compute, ComputeArgs
from components.config import load_config
from components.data import Data, DataArgs
from components.network import Network, NetworkArgs

config = load_config()

network = Network(config.name, NetworkArgs(config.network))
data = Data(config.name, DataArgs(config.data, network))
compute = Compute(config.name, ComputeArgs(config.compute, network, data))

pulumi.export("service_url", compute.service_url)
pulumi.export("ecr_repository_url", compute.ecr_repository_url)
pulumi.export("cluster_name", compute.cluster_name)
pulumi.export("service_name", compute.service_name)
pulumi.export("log_group_name", compute.log_group_name)
