"""Settings for every test, and the mark that splits the suite into fast tests and real-server tests.

The service runs as a local deployment (ENVIRONMENT=local): without it the service would take the environment
for a real deployment and demand a signing key; the subprocesses the tests start (the service, `make run`)
inherit it too. Tests that check a deployment's own environment (the contract test) pass theirs explicitly.

`real_servers` marks every test that talks to PostgreSQL or Redis or starts a server process: the integration
and reliability trees, and any test whose fixtures reach a server. `make test-fast` runs the rest with both
servers pointed at a closed port, so a test that needs one and is not marked fails there instead of passing
slowly.
"""

import os
from pathlib import Path

import pytest

os.environ["ENVIRONMENT"] = "local"

TESTS = Path(__file__).resolve().parent
REAL_SERVER_TREES = (TESTS / "service" / "integration", TESTS / "service" / "reliability")
REAL_SERVER_FIXTURES = frozenset({"admin_url", "redis_base_url", "live_service", "local_service"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        in_server_tree = any(item.path.is_relative_to(tree) for tree in REAL_SERVER_TREES)
        if in_server_tree or REAL_SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.real_servers)
