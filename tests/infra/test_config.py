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
