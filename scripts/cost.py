"""`make cost`: the estimated USD cost of the stack, per resource and per component, offline: an idle month, an
event hour, and a month with N event days, beside the deployment plan's ~$107.

Runs the real program under the same recording mocks as the tests (scripts/offline_stack.py), prices every
resource that costs money from the checked-in us-east-1 on-demand table (scripts/aws_prices_us_east_1.json),
and prints the deployment plan's own estimates beside the result. The idle month is the stack outside event
windows (the scalable target's idle minimum, 730 h); an event runs the tasks components/capacity.py derives for
the crowd (the stack's largest configured event window, else `--event-attendees`) - the crowd's on-demand tasks
plus the service's Fargate Spot task (config `idleOnSpot`), which the idle month runs at the Spot price, never on
demand. Usage-based parts are
assumptions, each a flag: `python -m scripts.cost --nat-gb 50 --log-gb 5 --alb-lcu 2 --event-days 3`.
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
    event_attendees: int = 2000  # the crowd of an event when the stack configures no event window
    event_days: int = 2  # event days in "a month with N event days"
    event_hours: float = 8.0  # hours of each event day at the event's task count (doors open to close)
    event_alb_lcu: float = 2.0  # ALB LCUs during the event (a minute of 2,000 logins: ~35 new connections/s)
    scale_in_minutes: float = 15.0  # after a window closes, target tracking removes the extra tasks gradually


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


def fargate_monthly(
    tasks: int, cpu_units: int, memory_mib: int, p: Prices, hours: float, architecture: str = "X86_64"
) -> float:
    return tasks * fargate_task_hour(cpu_units, memory_mib, p, architecture) * hours


def fargate_task_hour(
    cpu_units: int, memory_mib: int, p: Prices, architecture: str = "X86_64", spot: bool = False
) -> float:
    """One task for one hour: vCPU-hours plus GB-hours, at the price of the task's CPU architecture, on demand or
    on Fargate Spot."""
    prefix = (FARGATE_SPOT_PRICE_PREFIX if spot else FARGATE_PRICE_PREFIX)[architecture]
    return cpu_units / 1024 * _price(p, f"{prefix}vcpu_hour") + memory_mib / GIB_MIB * _price(p, f"{prefix}gb_hour")


FARGATE_PRICE_PREFIX = {"X86_64": "fargate_", "ARM64": "fargate_arm_"}
FARGATE_SPOT_PRICE_PREFIX = {"X86_64": "fargate_spot_", "ARM64": "fargate_spot_arm_"}


def spot_base(service_props: Mapping[str, Any]) -> int:
    """The tasks the service's capacity provider strategy puts on Fargate Spot: the FARGATE_SPOT item's base (its
    weight is 0, components/compute.py, so no task beyond the base goes there)."""
    strategy = service_props.get("capacityProviderStrategies") or []
    return sum(int(item.get("base") or 0) for item in strategy if item.get("capacityProvider") == "FARGATE_SPOT")


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
    idle_tasks: int | None = None  # outside event windows; None: the service's desired count

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
    task = TaskSize.of(c.graph)
    tasks = int(r.props["desiredCount"]) if c.idle_tasks is None else c.idle_tasks
    spot = min(tasks, spot_base(r.props))
    on_demand = fargate_monthly(tasks - spot, task.cpu, task.memory, c.prices, c.hours, task.architecture)
    spot_hour = fargate_task_hour(task.cpu, task.memory, c.prices, task.architecture, spot=True)
    emf = c.assumptions.emf_metrics * c.prices["custom_metric_month"]
    when = "24/7" if c.idle_tasks is None else "outside event windows, 24/7"
    where = f" ({spot} on Fargate Spot)" if spot else ""
    return [
        *_item(
            r,
            on_demand + spot * spot_hour * c.hours,
            f"{tasks} Fargate task{'s' * (tasks != 1)}{where} x {task.describe()}, {when}",
        ),
        LineItem(r.component, "AIDLC/Auth EMF metrics", emf, f"{c.assumptions.emf_metrics} custom metrics"),
    ]


@dataclass(frozen=True)
class TaskSize:
    cpu: int
    memory: int
    architecture: str

    @classmethod
    def of(cls, graph: Sequence[Resource]) -> TaskSize:
        (task,) = [r.props for r in graph if r.typ == "aws:ecs/taskDefinition:TaskDefinition"]
        architecture = str((task.get("runtimePlatform") or {}).get("cpuArchitecture") or "X86_64")
        return cls(int(task["cpu"]), int(task["memory"]), architecture)

    def describe(self) -> str:
        return f"{self.cpu / 1024:g} vCPU / {self.memory / GIB_MIB:g} GB {self.architecture}"


def _ecs_cluster(r: Resource, c: Context) -> list[LineItem]:
    if not _container_insights_on(r):
        return _item(r, 0.0, "Container Insights off (config containerInsights)")
    n = c.assumptions.container_insights_metrics
    return _item(r, n * c.prices["custom_metric_month"], f"Container Insights, ~{n} custom metrics")


def _container_insights_on(cluster: Resource) -> bool:
    settings = cluster.props.get("settings") or []
    return any(s.get("name") == "containerInsights" and s.get("value") != "disabled" for s in settings)


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


def line_items(
    graph: Sequence[Resource], prices: Prices, assumptions: Assumptions, idle_tasks: int | None = None
) -> list[LineItem]:
    context = Context(prices, assumptions, graph, idle_tasks)
    return [item for r in graph if r.typ in PRICERS for item in PRICERS[r.typ](r, context)]


# ------------------------------------------------------------------------------------------------ events


@dataclass(frozen=True)
class EventCost:
    """What an event adds to the idle stack: its extra tasks (and ALB capacity) for its hours."""

    idle_month: float
    idle_tasks: int
    event_tasks: int  # the crowd's on-demand tasks plus the Spot tasks
    crowd: str  # where the event's task count comes from
    task_hour: float
    extra_hour: float  # an event hour on top of the idle stack's hourly cost
    extra_day: float  # an event day: its hours plus the lead time and the scale-in after it
    lead_minutes: float
    arm_saving: float  # the idle tasks on ARM64 instead of X86_64, per month
    hours_per_month: float
    spot_tasks: int = 0  # of the idle (and every event's) tasks, those on Fargate Spot
    spot_task_hour: float = 0.0

    @property
    def idle_hour(self) -> float:
        return self.idle_month / self.hours_per_month

    def month_with(self, days: int) -> float:
        return self.idle_month + days * self.extra_day


def event_cost(
    idle_month: float,
    idle_tasks: int,
    event_tasks: int,
    crowd: str,
    task: TaskSize,
    lead_minutes: float,
    prices: Prices,
    assumptions: Assumptions,
    spot_tasks: int = 0,
) -> EventCost:
    """The Spot tasks are among the idle tasks, so every task an event adds is an on-demand one."""
    task_hour = fargate_task_hour(task.cpu, task.memory, prices, task.architecture)
    spot_task_hour = fargate_task_hour(task.cpu, task.memory, prices, task.architecture, spot=True)
    extra_tasks_hour = (event_tasks - idle_tasks) * task_hour
    extra_alb_hour = max(0.0, assumptions.event_alb_lcu - assumptions.alb_lcu) * _price(prices, "alb_lcu_hour")
    around_hours = (lead_minutes + assumptions.scale_in_minutes) / 60
    extra_day = (extra_tasks_hour + extra_alb_hour) * assumptions.event_hours + extra_tasks_hour * around_hours
    arm_task_hour = fargate_task_hour(task.cpu, task.memory, prices, "ARM64")
    arm_spot_task_hour = fargate_task_hour(task.cpu, task.memory, prices, "ARM64", spot=True)
    arm_saving = (
        max(0.0, task_hour - arm_task_hour) * (idle_tasks - spot_tasks)
        + max(0.0, spot_task_hour - arm_spot_task_hour) * spot_tasks
    ) * assumptions.hours_per_month
    return EventCost(
        idle_month,
        idle_tasks,
        event_tasks,
        crowd,
        task_hour,
        extra_tasks_hour + extra_alb_hour,
        extra_day,
        lead_minutes,
        arm_saving,
        assumptions.hours_per_month,
        spot_tasks,
        spot_task_hour,
    )


def by_component(items: Iterable[LineItem]) -> dict[str, float]:
    totals: dict[str, float] = defaultdict(float)
    for item in items:
        totals[item.component] += item.usd
    return dict(totals)


# ------------------------------------------------------------------------------------------------ report


def report(
    items: Sequence[LineItem],
    plan: Mapping[str, Any],
    assumptions: Assumptions,
    table: Prices,
    event: EventCost | None = None,
) -> str:
    lines = [
        f"Estimated monthly cost of the stack: {table['region']} on-demand prices as of {table['as_of']}"
        " (Fargate Spot for the task the service runs there: see the unit prices)",
        "",
    ]
    if event is not None:
        tasks = f"{event.idle_tasks} task{'s' * (event.idle_tasks != 1)}"
        if event.spot_tasks:
            tasks += " on Fargate Spot" if event.spot_tasks == event.idle_tasks else f", {event.spot_tasks} on Spot"
        lines += [f"idle month: the stack outside event windows ({tasks}), every hour of the month", ""]
    lines += [f"{'component':<12} {'resource':<48} {'USD/month':>10}  detail"]
    for item in sorted(items, key=lambda i: (i.component, -i.usd)):
        lines.append(f"{item.component:<12} {item.resource[:48]:<48} {item.usd:>10.2f}  {item.detail}")
    lines += ["", "per component:"]
    for component, usd in sorted(by_component(items).items(), key=lambda kv: -kv[1]):
        lines.append(f"  {component:<12} {usd:>8.2f}")
    total = sum(item.usd for item in items)
    lines += [f"  {'TOTAL':<12} {total:>8.2f} USD/month", ""]
    if event is not None:
        lines += [*_event_lines(event, plan, assumptions, table["prices"]), ""]
    lines.append("deployment plan's estimates:")
    for env in ("dev", "prod"):
        parts = ", ".join(f"{k} ~${v}" for k, v in plan[env].items() if k != "total")
        lines.append(f"  {env:<5} ~${plan[env]['total']}/month ({parts})")
    lines.append("")
    lines.append("assumptions: " + ", ".join(f"{f.name}={getattr(assumptions, f.name)}" for f in fields(assumptions)))
    lines.append(
        "not included: data transfer out to the internet, CloudWatch API/Logs Insights queries, "
        "RDS backup beyond the free size, tasks added by auto scaling beyond the event's (each extra task: "
        f"{fargate_monthly(1, 512, 1024, table['prices'], assumptions.hours_per_month):.2f} USD/month)"
    )
    return "\n".join(lines)


def _event_lines(event: EventCost, plan: Mapping[str, Any], assumptions: Assumptions, prices: Prices) -> list[str]:
    planned = float(plan["dev"]["total"])
    verdict = "within" if event.idle_month <= planned else "over"
    a, days, extra_tasks = assumptions, assumptions.event_days, event.event_tasks - event.idle_tasks
    rows = [
        (
            "idle month",
            event.idle_month,
            f"{verdict} the plan's ~${planned:g} by {abs(planned - event.idle_month):.2f}",
        ),
        (
            "event hour",
            event.idle_hour + event.extra_hour,
            f"{event.event_tasks} tasks for {event.crowd}{_spot_split(event)}: {event.idle_hour:.3f} idle"
            f" + {event.extra_hour:.3f} for {extra_tasks} extra on-demand tasks and {a.event_alb_lcu:g} ALB LCU",
        ),
        (
            "event day",
            event.extra_day,
            f"on top of the idle month: {a.event_hours:g} h + {event.lead_minutes:g} min lead"
            f" + {a.scale_in_minutes:g} min scale-in",
        ),
        (f"month with {days} event days", event.month_with(days), "--event-days, --event-hours"),
    ]
    p = prices
    return [
        "events:",
        *(f"  {label:<26} {usd:>8.2f} USD  ({detail})" for label, usd, detail in rows),
        f"  ARM64 tasks would take {event.arm_saving:.2f} USD off the idle month; not used until argon2id is measured"
        " on arm64 (docs/capacity.md)",
        "unit prices used (USD):",
        f"  Fargate {p['fargate_vcpu_hour']} per vCPU-hour + {p['fargate_gb_hour']} per GB-hour (x86);"
        f" ARM64 {p['fargate_arm_vcpu_hour']} + {p['fargate_arm_gb_hour']}: one task-hour here {event.task_hour:.5f}",
        f"  Fargate Spot {p['fargate_spot_vcpu_hour']} + {p['fargate_spot_gb_hour']} (x86): one task-hour here"
        f" {event.spot_task_hour:.5f}; Spot prices vary, these are 50 % of on-demand, an upper bound"
        " (scripts/aws_prices_us_east_1.json, fargate_spot)",
        f"  ALB {p['alb_hour']}/hour + {p['alb_lcu_hour']}/LCU-hour; public IPv4 {p['public_ipv4_hour']}/hour;"
        f" NAT {p['nat_gateway_hour']}/hour + {p['nat_gateway_gb']}/GB",
        f"  RDS and ElastiCache per instance-hour (table above); custom metric {p['custom_metric_month']}/month,"
        f" alarm {p['alarm_month']}/month, dashboard {p['dashboard_month']}/month, secret {p['secret_month']}/month",
    ]


def _spot_split(event: EventCost) -> str:
    if not event.spot_tasks:
        return ""
    return f" ({event.event_tasks - event.spot_tasks} on demand + {event.spot_tasks} on Fargate Spot, never counted)"


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


@dataclass(frozen=True)
class OfflineStack:
    resources: list[Resource]
    idle_tasks: int
    window_tasks: dict[str, int]  # each configured event window's tasks
    task_cpu: int
    lead_minutes: int
    spot_tasks: int = 0  # on Fargate Spot, on top of every window's on-demand tasks (config `idleOnSpot`)


def offline_stack() -> OfflineStack:
    """The staging stack as the mocks see it, each resource tagged with its component, and its event settings."""
    from scripts.offline_stack import run_offline

    graph = run_offline()
    config, autoscaling = graph.component("config"), graph.component("autoscaling")
    return OfflineStack(
        resources=[Resource(r.typ, r.name, _component(r.parent_type), r.plain) for r in graph.resources if r.custom],
        idle_tasks=config.scaling.min_tasks,
        window_tasks={w.name: w.tasks for w in autoscaling.windows},
        task_cpu=config.compute.task_cpu,
        lead_minutes=config.scaling.event_lead_minutes,
        spot_tasks=config.compute.spot_tasks,
    )


def stack_resources() -> list[Resource]:
    return offline_stack().resources


def _component(parent_type: str) -> str:
    return parent_type.split(":")[1] if parent_type.count(":") == 2 else "stack"


def main(argv: Sequence[str] | None = None) -> int:
    assumptions, price_file = _parse(argv)
    table = load_prices(price_file)
    stack = offline_stack()
    items = line_items(stack.resources, table["prices"], assumptions, idle_tasks=stack.idle_tasks)
    event = event_cost(
        sum(item.usd for item in items),
        stack.idle_tasks,
        *_event_crowd(stack, assumptions),
        TaskSize.of(stack.resources),
        stack.lead_minutes,
        table["prices"],
        assumptions,
        spot_tasks=min(stack.spot_tasks, stack.idle_tasks),
    )
    print(report(items, table["deployment_plan_estimates"], assumptions, table, event))
    return 0


def _event_crowd(stack: OfflineStack, assumptions: Assumptions) -> tuple[int, str]:
    """The event's tasks: the stack's largest configured window (its Spot task included), else the on-demand tasks
    for `--event-attendees` in one minute plus the Spot task."""
    from components.capacity import tasks_for_attendees

    if stack.window_tasks:
        name, tasks = max(stack.window_tasks.items(), key=lambda kv: kv[1])
        return tasks, f"event window {name!r}"
    tasks = tasks_for_attendees(assumptions.event_attendees, stack.task_cpu) + stack.spot_tasks
    return tasks, f"{assumptions.event_attendees:,} attendees a minute"


if __name__ == "__main__":
    raise SystemExit(main())
