"""The cost report's arithmetic on known numbers, and the report over the real (mocked) stack."""

from __future__ import annotations

import re

import pytest

from scripts import cost
from scripts.cost import Assumptions, LineItem, Resource

PRICES = cost.load_prices()["prices"]
HOURS = 730.0


def test_price_table_records_its_source_and_date() -> None:
    table = cost.load_prices()
    assert table["region"] == "us-east-1" and table["currency"] == "USD"
    assert table["source"] and table["as_of"]
    assert table["deployment_plan_estimates"]["dev"]["total"] == 107
    assert table["deployment_plan_estimates"]["prod"]["total"] == 180


def test_fargate_is_vcpu_hours_plus_gb_hours() -> None:
    # 2 tasks x (0.5 vCPU x 0.04048 + 1 GB x 0.004445) x 730 h
    assert cost.fargate_monthly(2, 512, 1024, PRICES, HOURS) == pytest.approx(36.0401, abs=1e-4)
    assert cost.fargate_monthly(4, 512, 1024, PRICES, HOURS) == pytest.approx(2 * 36.0401, abs=1e-3)


def test_rds_is_instance_hours_plus_storage_and_multi_az_doubles_both() -> None:
    single = cost.rds_monthly("db.t4g.micro", False, 20, PRICES, HOURS)
    assert single == pytest.approx(0.016 * 730 + 20 * 0.115)
    assert cost.rds_monthly("db.t4g.micro", True, 20, PRICES, HOURS) == pytest.approx(2 * single)


def test_alb_nat_redis_and_logs() -> None:
    assert cost.alb_monthly(0.5, 2, PRICES, HOURS) == pytest.approx((0.0225 + 0.5 * 0.008 + 2 * 0.005) * 730)
    assert cost.nat_monthly(10, PRICES, HOURS) == pytest.approx(0.045 * 730 + 10 * 0.045)
    assert cost.elasticache_monthly("cache.t4g.micro", 2, PRICES, HOURS) == pytest.approx(2 * 0.016 * 730)
    assert cost.logs_monthly(2, 30, PRICES) == pytest.approx(2 * 0.50 + 2 * 0.03)


def test_line_items_use_the_task_size_and_split_nat_traffic() -> None:
    graph = [
        Resource("aws:ecs/taskDefinition:TaskDefinition", "task", "compute", {"cpu": "1024", "memory": "2048"}),
        Resource("aws:ecs/service:Service", "svc", "compute", {"desiredCount": 3.0}),
        Resource("aws:ec2/natGateway:NatGateway", "nat-0", "network", {}),
        Resource("aws:ec2/natGateway:NatGateway", "nat-1", "network", {}),
        Resource("aws:ec2/vpc:Vpc", "vpc", "network", {}),  # free: no line
    ]
    items = cost.line_items(graph, PRICES, Assumptions(nat_gb=20, emf_metrics=0))
    service = next(i for i in items if i.resource == "Service svc")
    assert service.usd == pytest.approx(cost.fargate_monthly(3, 1024, 2048, PRICES, HOURS))
    nats = [i for i in items if i.resource.startswith("NatGateway")]
    assert [n.usd for n in nats] == [pytest.approx(cost.nat_monthly(10, PRICES, HOURS))] * 2
    assert not any("Vpc" in i.resource for i in items)


def test_totals_per_component() -> None:
    items = [LineItem("a", "x", 1.5, ""), LineItem("a", "y", 2.0, ""), LineItem("b", "z", 4.0, "")]
    assert cost.by_component(items) == {"a": 3.5, "b": 4.0}


def test_assumptions_are_flags() -> None:
    assumptions, _ = cost._parse(["--nat-gb", "50", "--hours-per-month", "100", "--emf-metrics", "7"])
    assert (assumptions.nat_gb, assumptions.hours_per_month, assumptions.emf_metrics) == (50, 100, 7)
    assert assumptions.log_gb == Assumptions().log_gb


def test_report_over_the_staging_stack(capsys: pytest.CaptureFixture[str]) -> None:
    assert cost.main([]) == 0
    out = capsys.readouterr().out
    total = float(out.split("TOTAL")[1].split()[0])
    assert 100 < total < 200, out  # same ballpark as the plan's ~$107 dev / ~$180 prod
    for component in ("compute", "network", "data", "monitoring"):
        assert f"  {component}" in out
    assert "~$107/month" in out and "~$180/month" in out
    assert "assumptions: hours_per_month=730.0" in out


def test_exported_postgresql_logs_and_the_storage_ceiling_are_priced() -> None:
    graph = [
        Resource(
            "aws:rds/instance:Instance",
            "db",
            "data",
            {"instanceClass": "db.t4g.micro", "allocatedStorage": 20.0, "maxAllocatedStorage": 100.0},
        ),
        Resource(
            "aws:cloudwatch/logGroup:LogGroup",
            "pg",
            "data",
            {"name": "/aws/rds/instance/auth-staging-db/postgresql", "retentionInDays": 30.0},
        ),
        Resource(
            "aws:cloudwatch/logGroup:LogGroup",
            "upgrade",
            "data",
            {"name": "/aws/rds/instance/auth-staging-db/upgrade", "retentionInDays": 30.0},
        ),
        Resource(
            "aws:cloudwatch/logGroup:LogGroup",
            "service",
            "compute",
            {"name": "/ecs/auth-staging", "retentionInDays": 30.0},
        ),
    ]
    items = {i.resource: i for i in cost.line_items(graph, PRICES, Assumptions(log_gb=2, db_log_gb=0.5))}
    assert items["LogGroup pg"].usd == pytest.approx(cost.logs_monthly(0.5, 30, PRICES))
    assert items["LogGroup upgrade"].usd == 0
    assert items["LogGroup service"].usd == pytest.approx(cost.logs_monthly(2, 30, PRICES))
    db = items["Instance db"]
    assert db.usd == pytest.approx(cost.rds_monthly("db.t4g.micro", False, 20, PRICES, HOURS))  # billed: allocated
    ceiling = cost.rds_monthly("db.t4g.micro", False, 100, PRICES, HOURS)
    assert f"up to 100 GB: at most {ceiling:.2f}" in db.detail


# --- idle month, event hour, month with N event days ------------------------------------------------------


def test_arm64_tasks_are_priced_at_the_graviton_rates() -> None:
    # 0.5 x 0.03238 + 1 x 0.00356 per hour
    assert cost.fargate_task_hour(512, 1024, PRICES, "ARM64") == pytest.approx(0.01975)
    assert cost.fargate_task_hour(512, 1024, PRICES) == pytest.approx(0.5 * 0.04048 + 0.004445)


def test_the_idle_month_prices_the_idle_task_count_and_container_insights_only_when_on() -> None:
    graph = [
        Resource(
            "aws:ecs/taskDefinition:TaskDefinition",
            "task",
            "compute",
            {"cpu": "512", "memory": "1024", "runtimePlatform": {"cpuArchitecture": "X86_64"}},
        ),
        Resource("aws:ecs/service:Service", "svc", "compute", {"desiredCount": 2.0}),
        Resource(
            "aws:ecs/cluster:Cluster",
            "off",
            "compute",
            {"settings": [{"name": "containerInsights", "value": "disabled"}]},
        ),
        Resource(
            "aws:ecs/cluster:Cluster",
            "on",
            "compute",
            {"settings": [{"name": "containerInsights", "value": "enabled"}]},
        ),
    ]
    items = {i.resource: i for i in cost.line_items(graph, PRICES, Assumptions(), idle_tasks=1)}
    assert items["Service svc"].usd == pytest.approx(cost.fargate_monthly(1, 512, 1024, PRICES, HOURS))
    assert "1 Fargate task x 0.5 vCPU / 1 GB X86_64, outside event windows" in items["Service svc"].detail
    assert items["Cluster off"].usd == 0
    assert items["Cluster on"].usd == pytest.approx(20 * 0.30)


def test_an_event_adds_its_extra_tasks_for_its_hours_lead_and_scale_in() -> None:
    task = cost.TaskSize(512, 1024, "X86_64")
    assumptions = Assumptions(event_hours=8, event_alb_lcu=2, alb_lcu=0.5, scale_in_minutes=15, event_days=3)
    event = cost.event_cost(100.0, 1, 5, "a crowd", task, 15, PRICES, assumptions)
    task_hour = 0.5 * 0.04048 + 0.004445
    extra_hour = 4 * task_hour + 1.5 * 0.008
    assert event.extra_hour == pytest.approx(extra_hour)
    assert event.idle_hour + event.extra_hour == pytest.approx(100 / 730 + extra_hour)
    assert event.extra_day == pytest.approx(extra_hour * 8 + 4 * task_hour * 0.5)
    assert event.month_with(3) == pytest.approx(100 + 3 * event.extra_day)
    assert event.arm_saving == pytest.approx((task_hour - 0.01975) * 730)


def _events_report() -> dict[str, float]:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cost.main([]) == 0
    text = out.getvalue()
    values = {
        "idle month": r"idle month\s+([\d.]+) USD",
        "event hour": r"event hour\s+([\d.]+) USD",
        "event day": r"event day\s+([\d.]+) USD",
        "month with event days": r"month with \d+ event days\s+([\d.]+) USD",
        "plan": r"over the plan's ~\$(\d+)|within the plan's ~\$(\d+)",
    }
    found: dict[str, float] = {}
    for key, pattern in values.items():
        match = re.search(pattern, text)
        assert match, (key, text)
        found[key] = float(next(g for g in match.groups() if g))
    assert re.search(r"6 tasks for 2,000 attendees a minute \(5 on demand \+ 1 on Fargate Spot", text), text
    assert "unit prices used (USD):" in text and "0.04048 per vCPU-hour" in text
    return found


def test_the_staging_stack_idles_on_one_task_and_an_event_costs_cents_an_hour() -> None:
    found = _events_report()
    one_task = cost.fargate_monthly(1, 512, 1024, PRICES, HOURS)
    assert found["idle month"] < 139.77 - one_task  # was 2 tasks and Container Insights, all month
    assert 0 < found["event hour"] < 1 and found["plan"] == 107
    assert found["month with event days"] == pytest.approx(found["idle month"] + 2 * found["event day"], abs=0.011)


def test_readme_and_operations_quote_what_make_cost_prints() -> None:
    from scripts.offline_stack import ROOT

    found = _events_report()
    readme = (ROOT / "README.md").read_text().split("### Cost", 1)[1].split("\n#", 1)[0]
    operations = (ROOT / "docs" / "operations.md").read_text().split("## Cost", 1)[1]
    for key in ("idle month", "event hour", "month with event days"):
        assert f"${found[key]:.2f}" in readme, (key, found[key], readme)
        assert f"${found[key]:.2f}" in operations, (key, found[key])


def test_the_event_is_the_largest_configured_window_else_the_default_crowd() -> None:
    stack = cost.OfflineStack(resources=[], idle_tasks=1, window_tasks={}, task_cpu=512, lead_minutes=15)
    assert cost._event_crowd(stack, Assumptions(event_attendees=1000)) == (3, "1,000 attendees a minute")
    windows = cost.OfflineStack([], 1, {"keynote": 5, "workshop": 3}, 512, 15)
    assert cost._event_crowd(windows, Assumptions()) == (5, "event window 'keynote'")


# --- the idle task on Fargate Spot --------------------------------------------------------------------------

SPOT_STRATEGY = [
    {"capacityProvider": "FARGATE_SPOT", "base": 1.0, "weight": 0.0},
    {"capacityProvider": "FARGATE", "weight": 1.0},
]


def test_fargate_spot_is_priced_at_a_dated_conservative_half_of_on_demand() -> None:
    table = cost.load_prices()
    assert "2026-12" in table["fargate_spot"] and "vary" in table["fargate_spot"]
    for spot, on_demand in (("fargate_spot_", "fargate_"), ("fargate_spot_arm_", "fargate_arm_")):
        for unit in ("vcpu_hour", "gb_hour"):
            assert PRICES[spot + unit] == pytest.approx(PRICES[on_demand + unit] / 2, rel=1e-3), spot + unit
    assert cost.fargate_task_hour(512, 1024, PRICES, spot=True) == pytest.approx(0.5 * 0.02024 + 0.0022225)


@pytest.mark.parametrize(("idle_tasks", "spot", "on_demand"), [(1, 1, 0), (3, 1, 2)])
def test_the_idle_tasks_are_priced_on_spot_up_to_the_strategys_base(idle_tasks: int, spot: int, on_demand: int) -> None:
    graph = [
        Resource("aws:ecs/taskDefinition:TaskDefinition", "task", "compute", {"cpu": "512", "memory": "1024"}),
        Resource(
            "aws:ecs/service:Service",
            "svc",
            "compute",
            {"desiredCount": 1.0, "capacityProviderStrategies": SPOT_STRATEGY},
        ),
    ]
    (service, _) = cost.line_items(graph, PRICES, Assumptions(), idle_tasks=idle_tasks)
    expected = (
        spot * cost.fargate_task_hour(512, 1024, PRICES, spot=True)
        + on_demand * cost.fargate_task_hour(512, 1024, PRICES)
    ) * HOURS
    assert service.usd == pytest.approx(expected)
    assert "(1 on Fargate Spot)" in service.detail
    assert cost.spot_base({"capacityProviderStrategies": [{"capacityProvider": "FARGATE", "weight": 1.0}]}) == 0


def test_every_task_an_event_adds_to_the_spot_task_is_on_demand() -> None:
    task = cost.TaskSize(512, 1024, "X86_64")
    event = cost.event_cost(100.0, 1, 6, "a crowd", task, 15, PRICES, Assumptions(event_alb_lcu=0.5), spot_tasks=1)
    assert event.extra_hour == pytest.approx(5 * cost.fargate_task_hour(512, 1024, PRICES))
    assert event.spot_task_hour == pytest.approx(cost.fargate_task_hour(512, 1024, PRICES, spot=True))


def test_the_idle_month_is_within_the_plan_with_the_spot_task_and_the_crowd_on_demand(
    capsys: pytest.CaptureFixture[str],
) -> None:
    found = _events_report()
    assert found["idle month"] <= found["plan"] == 107
    assert cost.main([]) == 0
    service = re.search(r"Service auth-staging-service\s+([\d.]+)\s+(.*)", capsys.readouterr().out)
    assert service, "no service line"
    assert float(service[1]) == pytest.approx(cost.fargate_task_hour(512, 1024, PRICES, spot=True) * HOURS, abs=0.006)
    assert "1 Fargate task (1 on Fargate Spot)" in service[2]
