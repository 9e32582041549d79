"""One offline run of the real __main__.py under recording mocks, shared by every infra test.

`staging` is the stack exactly as `pulumi up` would build it from Pulumi.staging.yaml; tests that
need another configuration call `run_stack(...)`, which runs the program again under fresh mocks.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from scripts.offline_stack import StackGraph, run_offline

COMPONENT_TYPES = {"aidlc:network:Network", "aidlc:data:Data", "aidlc:compute:Compute"}


@pytest.fixture(scope="session")
def staging() -> StackGraph:
    return run_offline()


@pytest.fixture(scope="session")
def run_stack() -> Callable[..., StackGraph]:
    return run_offline


@pytest.fixture(scope="session")
def container(staging: StackGraph) -> dict[str, Any]:
    """The one container definition of the service's task definition, parsed."""
    definitions = json.loads(staging.one("aws:ecs/taskDefinition:TaskDefinition").plain["containerDefinitions"])
    assert len(definitions) == 1
    return definitions[0]
