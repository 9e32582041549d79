"""The stack's config is read one way (components/config.py): a value of the wrong type is refused, naming its key."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pulumi.config import ConfigTypeError

from scripts.offline_stack import StackGraph


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("taskCpu", "lots"),  # int
        ("scalingCpuTargetPercent", "high"),  # float
        ("dbMultiAz", "maybe"),  # bool
        ("alarmTargetP95Seconds", "fast"),  # float, alarm thresholds
    ],
)
def test_a_setting_of_the_wrong_type_is_refused_naming_its_key(
    run_stack: Callable[..., StackGraph], key: str, value: str
) -> None:
    with pytest.raises(ConfigTypeError, match=f"aidlc-auth:{key}' value '{value}'"):
        run_stack(config_overrides={f"aidlc-auth:{key}": value})


def _environment(graph: StackGraph) -> dict[str, str]:
    import json

    (container,) = json.loads(graph.one("aws:ecs/taskDefinition:TaskDefinition").plain["containerDefinitions"])
    return {item["name"]: item["value"] for item in container["environment"]}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('["203.0.113.7/32", "2001:db8::/48"]', "203.0.113.7/32,2001:db8::/48"),  # a YAML list in the stack file
        ("203.0.113.7/32, 198.51.100.0/24", "203.0.113.7/32,198.51.100.0/24"),  # or one comma-separated string
    ],
)
def test_shared_egress_cidrs_reach_the_service_through_the_task_definition(
    run_stack: Callable[..., StackGraph], value: str, expected: str
) -> None:
    from auth_service.settings import Settings, shared_egress_networks

    environment = _environment(run_stack(config_overrides={"aidlc-auth:sharedEgressCidrs": value}))
    assert environment["SHARED_EGRESS_CIDRS"] == expected
    settings = Settings(database_url="postgresql://x@127.0.0.1/x", shared_egress_cidrs=expected)
    assert [str(n) for n in shared_egress_networks(settings.shared_egress_cidrs)] == expected.split(",")


def test_no_shared_egress_cidrs_by_default(staging: StackGraph) -> None:
    assert _environment(staging)["SHARED_EGRESS_CIDRS"] == ""


def test_a_shared_egress_entry_that_is_no_network_is_refused_naming_the_key(
    run_stack: Callable[..., StackGraph],
) -> None:
    with pytest.raises(Exception, match="sharedEgressCidrs: 'the-venue' is not an IP network"):
        run_stack(config_overrides={"aidlc-auth:sharedEgressCidrs": "the-venue"})
