"""Refuse a Pulumi plan that deletes or replaces the database (reads `pulumi preview --json`).

`pulumi preview --json | python -m scripts.refuse_db_replacement` (or a file name instead of stdin).

A policy pack sees resources, not the plan's operations, so it cannot tell an update from a replacement. The
preview's JSON can: every step has an `op` and the resource's URN. With the instance's fixed identifier a
replacement is delete-then-create, an empty database; `protect` makes the engine refuse it too, and this check says
so at preview, before anything runs, naming what forces the replacement. Exit 0: nothing deletes or replaces the
database; 1: the plan does (the steps are printed); 2: the input is not a preview's JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Mapping
from typing import Any

DATABASE_TYPES = frozenset({"aws:rds/instance:Instance", "aws:rds/cluster:Cluster"})
# Every step op (pulumi/pkg/resource/deploy StepOp) that removes the resource or swaps in another one.
DESTRUCTIVE_OPS = frozenset(
    {"delete", "replace", "create-replacement", "delete-replaced", "discard", "discard-replaced",
     "read-replacement", "import-replacement", "remove-pending-replace"}
)  # fmt: skip


def resource_type(urn: str) -> str:
    """`urn:pulumi:stack::project::parent$type::name` -> `type`."""
    return urn.split("::")[2].split("$")[-1]


def destructive_database_steps(preview: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    steps = preview.get("steps")
    if not isinstance(steps, list):
        raise ValueError("not the JSON of `pulumi preview --json`: no `steps` list")
    return [
        s for s in steps if resource_type(str(s.get("urn", ""))) in DATABASE_TYPES and s.get("op") in DESTRUCTIVE_OPS
    ]


def describe(steps: Iterable[Mapping[str, Any]]) -> list[str]:
    lines = []
    for step in steps:
        reasons = ", ".join(step.get("replaceReasons") or step.get("diffReasons") or []) or "not given"
        lines.append(f"{step.get('op')} {step.get('urn')} (replaced because of: {reasons})")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("preview", nargs="?", default="-", help="file with `pulumi preview --json` output; - = stdin")
    args = parser.parse_args(argv)
    text = sys.stdin.read() if args.preview == "-" else open(args.preview, encoding="utf-8").read()  # noqa: SIM115
    try:
        steps = destructive_database_steps(json.loads(text))
    except ValueError as exc:
        print(f"refuse_db_replacement: {exc}", file=sys.stderr)
        return 2
    if not steps:
        print("ok  the plan neither deletes nor replaces the database")
        return 0
    print("REFUSED: this plan deletes or replaces the database (an empty one would take its place):", file=sys.stderr)
    for line in describe(steps):
        print(f"  {line}", file=sys.stderr)
    print(
        "Undo the change that forces it. A deliberate replacement or restore follows docs/operations.md"
        " (restore the database to a point in time), never this pipeline.",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
