"""`make cost`: the estimated monthly USD cost of the stack, per resource and per component, offline.

Runs the real program under the same recording mocks as the tests (scripts/offline_stack.py), prices every
resource that costs money from the checked-in us-east-1 on-demand table (scripts/aws_prices_us_east_1.json),
and prints the deployment plan's own estimates beside the result. Usage-based parts are assumptions, each a
flag: `python -m scripts.cost --nat-gb 50 --log-gb 5 --alb-lcu 2`.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

PRICE_FILE = Path(__file__).resolve().parent / "aws_prices_us_east_1.json"
GIB_MIB = 1024


@dataclass(frozen=True)
class Assumptions:
    """Usage the stack's definition cannot tell; override each with `--<name-with-dashes>`."""

    hours_per_month: float = 730.0
    nat_gb: float = 10.0  # processed by NAT per month: image pulls, Secrets Manager, CloudWatch Logs calls
    log_gb: float = 2.0  # CloudWatch Logs ingested per month (JSON logs + EMF lines)
    db_log_gb: float = 0.5  # PostgreSQL log exported per month (errors, checkpoints, autovacuum; no statements)
    alb_lcu: float = 0.5  # average LCUs of a lightly used ALB
    ecr_gb: float = 3.0  # stored images: ~150 MB x at most 20 (the newest 10 and 10 released ones)
    emf_metrics: int = 5  # AIDLC/Auth metrics x one dimension set
    container_insights_metrics: int = 20  # custom metrics Container Insights bills for one cluster/service


@dataclass(frozen=True)
class LineItem:
    component: str
    resource: str
    usd: float
    detail: str


@dataclass(frozen=True)
class Resource:
    """What pricing needs of one mocked resource."""

    typ: str
    name: str
    component: str
    props: Mapping[str, Any]


Prices = Mapping[str, Any]


def load_prices(path: Path = PRICE_FILE) -> dict[str, Any]:
    table: dict[str, Any] = json.loads(path.read_text())
    return table


# ------------------------------------------------------------------------------------- price arithmetic


def fargate_monthly(tasks: int, cpu_units: int, memory_mib: int, p: Prices, hours: float) -> float:
    per_task_hour = cpu_units / 1024 * _price(p, "fargate_vcpu_hour") + memory_mib / GIB_MIB * _price(
        p, "fargate_gb_hour"
    )
    return tasks * per_task_hour * hours


def rds_monthly(instance_class: str, multi_az: bool, storage_gb: float, p: Prices, hours: float) -> float:
    factor = _price(p, "rds_multi_az_factor") if multi_az else 1.0
    instance_hour = float(p["rds_instance_hour"][instance_class])
    return factor * (instance_hour * hours + storage_gb * _price(p, "rds_gp3_gb_month"))


def elasticache_monthly(node_type: str, nodes: int, p: Prices, hours: float) -> float:
    return nodes * float(p["elasticache_node_hour"][node_type]) * hours


def alb_monthly(lcu: float, public_ips: int, p: Prices, hours: float) -> float:
    hourly = _price(p, "alb_hour") + lcu * _price(p, "alb_lcu_hour") + public_ips * _price(p, "public_ipv4_hour")
    return hourly * hours


def nat_monthly(gb_processed: float, p: Prices, hours: float) -> float:
    return _price(p, "nat_gateway_hour") * hours + gb_processed * _price(p, "nat_gateway_gb")


def logs_monthly(ingest_gb: float, retention_days: float, p: Prices) -> float:
    stored_gb = ingest_gb * min(retention_days, 365) / 30  # steady state: `retention` worth of logs kept
    return ingest_gb * _price(p, "logs_ingest_gb") + stored_gb * _price(p, "logs_storage_gb_month")


def _price(p: Prices, key: str) -> float:
    return float(p[key])


# ------------------------------------------------------------------------------------- per resource type


Pricer = Callable[[Resource, "Context"], list[LineItem]]


@dataclass(frozen=True)
class Context:
    prices: Prices
    assumptions: Assumptions
    graph: Sequence[Resource]

    @property
    def hours(self) -> float:
        return self.assumptions.hours_per_month

    def count(self, typ: str) -> int:
        return sum(1 for r in self.graph if r.typ == typ)

    def one(self, typ: str) -> Resource:
        (found,) = [r for r in self.graph if r.typ == typ]
        return found


def _item(r: Resource, usd: float, detail: str) -> list[LineItem]:
    return [LineItem(r.component, f"{r.typ.split(':')[-1]} {r.name}", usd, detail)]


def _ecs_service(r: Resource, c: Context) -> list[LineItem]:
    task = c.one("aws:ecs/taskDefinition:TaskDefinition").props
    tasks, cpu, memory = int(r.props["desiredCount"]), int(task["cpu"]), int(task["memory"])
    fargate = fargate_monthly(tasks, cpu, memory, c.prices, c.hours)
    emf = c.assumptions.emf_metrics * c.prices["custom_metric_month"]
    return [
        *_item(r, fargate, f"{tasks} Fargate tasks x {cpu / 1024:g} vCPU / {memory / GIB_MIB:g} GB, 24/7"),
        LineItem(r.component, "AIDLC/Auth EMF metrics", emf, f"{c.assumptions.emf_metrics} custom metrics"),
    ]


def _ecs_cluster(r: Resource, c: Context) -> list[LineItem]:
    n = c.assumptions.container_insights_metrics
    return _item(r, n * c.prices["custom_metric_month"], f"Container Insights, ~{n} custom metrics")


def _rds(r: Resource, c: Context) -> list[LineItem]:
    cls, multi_az, gb = r.props["instanceClass"], bool(r.props.get("multiAz")), float(r.props["allocatedStorage"])
    usd = rds_monthly(cls, multi_az, gb, c.prices, c.hours)
    detail = f"{cls}{' Multi-AZ' if multi_az else ''}, {gb:g} GB gp3; backups within the free size"
    ceiling = float(r.props.get("maxAllocatedStorage") or 0)
    if ceiling > gb:
        at_ceiling = rds_monthly(cls, multi_az, ceiling, c.prices, c.hours)
        detail += f"; storage autoscaling up to {ceiling:g} GB: at most {at_ceiling:.2f}"
    return _item(r, usd, detail)


def _redis(r: Resource, c: Context) -> list[LineItem]:
    node, nodes = r.props["nodeType"], int(r.props.get("numCacheClusters", 1))
    return _item(r, elasticache_monthly(node, nodes, c.prices, c.hours), f"{nodes} x {node}")


def _alb(r: Resource, c: Context) -> list[LineItem]:
    ips = len(r.props.get("subnets", [])) or 2
    lcu = c.assumptions.alb_lcu
    return _item(r, alb_monthly(lcu, ips, c.prices, c.hours), f"hourly + {lcu:g} LCU + {ips} public IPv4")


def _nat(r: Resource, c: Context) -> list[LineItem]:
    gb = c.assumptions.nat_gb / max(1, c.count("aws:ec2/natGateway:NatGateway"))
    return _item(r, nat_monthly(gb, c.prices, c.hours), f"hourly + {gb:g} GB processed")


def _eip(r: Resource, c: Context) -> list[LineItem]:
    return _item(r, c.prices["public_ipv4_hour"] * c.hours, "public IPv4 of the NAT gateway")


def _log_group(r: Resource, c: Context) -> list[LineItem]:
    days = float(r.props.get("retentionInDays", 30))
    ingest_gb = _log_ingest_gb(str(r.props.get("name", "")), c.assumptions)
    usd = logs_monthly(ingest_gb, days, c.prices)
    return _item(r, usd, f"{ingest_gb:g} GB/month ingested, kept {days:g} days")


def _log_ingest_gb(group_name: str, assumptions: Assumptions) -> float:
    """The service's own logs, PostgreSQL's exported log, or RDS's upgrade log (written only during upgrades)."""
    if group_name.startswith("/aws/rds/"):
        return assumptions.db_log_gb if group_name.endswith("/postgresql") else 0.0
    return assumptions.log_gb


def _flat(price_key: str, detail: str) -> Pricer:
    def price(r: Resource, c: Context) -> list[LineItem]:
        return _item(r, c.prices[price_key], detail)

    return price


def _ecr(r: Resource, c: Context) -> list[LineItem]:
    gb = c.assumptions.ecr_gb
    return _item(r, gb * c.prices["ecr_storage_gb_month"], f"{gb:g} GB of images")


PRICERS: dict[str, Pricer] = {
    "aws:ecs/service:Service": _ecs_service,
    "aws:ecs/cluster:Cluster": _ecs_cluster,
    "aws:rds/instance:Instance": _rds,
    "aws:elasticache/replicationGroup:ReplicationGroup": _redis,
    "aws:lb/loadBalancer:LoadBalancer": _alb,
    "aws:ec2/natGateway:NatGateway": _nat,
    "aws:ec2/eip:Eip": _eip,
    "aws:cloudwatch/logGroup:LogGroup": _log_group,
    "aws:cloudwatch/metricAlarm:MetricAlarm": _flat("alarm_month", "standard-resolution alarm"),
    "aws:cloudwatch/dashboard:Dashboard": _flat("dashboard_month", "dashboard (free if the account has < 3)"),
    "aws:secretsmanager/secret:Secret": _flat("secret_month", "secret"),
    "aws:ecr/repository:Repository": _ecr,
}


def line_items(graph: Sequence[Resource], prices: Prices, assumptions: Assumptions) -> list[LineItem]:
    context = Context(prices, assumptions, graph)
    return [item for r in graph if r.typ in PRICERS for item in PRICERS[r.typ](r, context)]


def by_component(items: Iterable[LineItem]) -> dict[str, float]:
    totals: dict[str, float] = defaultdict(float)
    for item in items:
        totals[item.component] += item.usd
    return dict(totals)


# ------------------------------------------------------------------------------------------------ report


def report(items: Sequence[LineItem], plan: Mapping[str, Any], assumptions: Assumptions, table: Prices) -> str:
    lines = [f"Estimated monthly cost of the stack: {table['region']} on-demand prices as of {table['as_of']}", ""]
    lines += [f"{'component':<12} {'resource':<48} {'USD/month':>10}  detail"]
    for item in sorted(items, key=lambda i: (i.component, -i.usd)):
        lines.append(f"{item.component:<12} {item.resource[:48]:<48} {item.usd:>10.2f}  {item.detail}")
    lines += ["", "per component:"]
    for component, usd in sorted(by_component(items).items(), key=lambda kv: -kv[1]):
        lines.append(f"  {component:<12} {usd:>8.2f}")
    total = sum(item.usd for item in items)
    lines += [f"  {'TOTAL':<12} {total:>8.2f} USD/month", ""]
    lines.append("deployment plan's estimates:")
    for env in ("dev", "prod"):
        parts = ", ".join(f"{k} ~${v}" for k, v in plan[env].items() if k != "total")
        lines.append(f"  {env:<5} ~${plan[env]['total']}/month ({parts})")
    lines.append("")
    lines.append("assumptions: " + ", ".join(f"{f.name}={getattr(assumptions, f.name)}" for f in fields(assumptions)))
    lines.append(
        "not included: data transfer out to the internet, CloudWatch API/Logs Insights queries, "
        "RDS backup beyond the free size, tasks added by auto scaling (each extra task: "
        f"{fargate_monthly(1, 512, 1024, table['prices'], assumptions.hours_per_month):.2f} USD/month)"
    )
    return "\n".join(lines)


def _parse(argv: Sequence[str] | None) -> tuple[Assumptions, Path]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    defaults = Assumptions()
    for f in fields(Assumptions):
        parser.add_argument(
            "--" + f.name.replace("_", "-"), type=type(getattr(defaults, f.name)), default=getattr(defaults, f.name)
        )
    parser.add_argument("--prices", type=Path, default=PRICE_FILE)
    args = parser.parse_args(argv)
    return Assumptions(**{f.name: getattr(args, f.name) for f in fields(Assumptions)}), args.prices


def stack_resources() -> list[Resource]:
    """The staging stack as the mocks see it, each resource tagged with its component."""
    from scripts.offline_stack import run_offline

    graph = run_offline()
    return [Resource(r.typ, r.name, _component(r.parent_type), r.plain) for r in graph.resources if r.custom]


def _component(parent_type: str) -> str:
    return parent_type.split(":")[1] if parent_type.count(":") == 2 else "stack"


def main(argv: Sequence[str] | None = None) -> int:
    assumptions, price_file = _parse(argv)
    table = load_prices(price_file)
    items = line_items(stack_resources(), table["prices"], assumptions)
    print(report(items, table["deployment_plan_estimates"], assumptions, table))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
