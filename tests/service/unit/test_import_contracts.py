"""The application contract in pyproject.toml is an allow-list written as a deny-list: it must name every runtime
requirement, or a new dependency could slip into the application layer unnoticed."""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]


def _normalized(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()


def _runtime_requirements() -> set[str]:
    names = set()
    for line in (ROOT / "auth_service" / "requirements.txt").read_text().splitlines():
        requirement = line.split("#", 1)[0].strip()
        if requirement:
            names.add(_normalized(re.split(r"[\[=<>~!; ]", requirement, maxsplit=1)[0]))
    return names


def _import_names(distributions: set[str]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {name: set() for name in distributions}
    for module, owners in importlib.metadata.packages_distributions().items():
        for owner in owners:
            if _normalized(owner) in found:
                found[_normalized(owner)].add(module)
    return found


def _contract(name_start: str) -> dict[str, Any]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    [contract] = [c for c in config["tool"]["importlinter"]["contracts"] if c["name"].startswith(name_start)]
    return contract  # type: ignore[no-any-return]


def test_the_application_contract_forbids_every_runtime_requirement() -> None:
    forbidden = set(_contract("Application imports only")["forbidden_modules"])
    modules = _import_names(_runtime_requirements())
    assert all(modules.values()), {name for name, found in modules.items() if not found}  # all installed
    missing = {name: found - forbidden for name, found in modules.items() if found - forbidden}
    assert not missing, f"add these import names to the application contract in pyproject.toml: {missing}"


def test_the_application_contract_forbids_every_part_of_the_service_but_the_domain() -> None:
    forbidden = set(_contract("Application imports only")["forbidden_modules"])
    service = ROOT / "auth_service"
    parts = {
        f"auth_service.{p.stem}"
        for p in service.iterdir()
        if (p.suffix == ".py" or (p / "__init__.py").exists()) and p.stem != "__init__"
    }
    assert parts - forbidden == {"auth_service.application", "auth_service.domain"}
