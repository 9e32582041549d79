"""docs/infra.md's file table names every module of components/, and nothing that is not one."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TABLE_HEADER = "| File | What it owns |"


def documented_components() -> list[str]:
    text = (ROOT / "docs" / "infra.md").read_text()
    assert TABLE_HEADER in text, "docs/infra.md lost its file table"
    table = text.split(TABLE_HEADER, 1)[1].split("\n\n", 1)[0]
    return re.findall(r"`components/(\w+)\.py`", table)


def component_modules() -> list[str]:
    return sorted(path.stem for path in (ROOT / "components").glob("*.py") if path.stem != "__init__")


def test_the_file_table_lists_exactly_the_modules_of_components() -> None:
    documented = documented_components()
    assert len(documented) == len(set(documented)), f"listed twice: {documented}"
    modules = component_modules()
    assert sorted(documented) == modules, (
        f"docs/infra.md's file table misses {sorted(set(modules) - set(documented))}"
        f" and names {sorted(set(documented) - set(modules))}, which components/ does not have"
    )
