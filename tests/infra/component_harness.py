"""Build one component standalone under recording Pulumi mocks and return every resource it registered.

The whole-program graph comes from the shared fixture in conftest.py; this harness is for testing a component
in isolation with inputs the test chooses (e.g. known ARN suffixes to find in alarm dimensions).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pulumi

SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d"


def unwrap(value: Any) -> Any:
    """Plain Python values: secret wrappers removed, recursively."""
    if isinstance(value, Mapping):
        if SECRET_SIG_KEY in value:
            return unwrap(value.get("value"))
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


@dataclass(frozen=True)
class Recorded:
    typ: str
    name: str
    inputs: dict[str, Any]
    urn: str = ""

    @property
    def parent_types(self) -> list[str]:
        """Types of the ancestors, outermost first, read from the URN (`a$b$this-type::name`)."""
        qualified_type = self.urn.split("::")[2]
        return qualified_type.split("$")[:-1]


class RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.resources: list[Recorded] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
        self.resources.append(Recorded(args.typ, args.name, unwrap(args.inputs)))
        state = dict(args.inputs)
        if args.custom:
            state.setdefault("arn", f"arn:aws:mock:us-east-1:123456789012:{args.name}")
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[Any, Any]:
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": "123456789012", "arn": "arn:aws:iam::123456789012:user/mock", "userId": "m"}
        return {}


def build(program: Callable[[], object], stack: str = "staging") -> list[Recorded]:
    """Runs `program` under fresh mocks until every registration finished; returns what it registered."""
    mocks = RecordingMocks()
    monitor = pulumi.runtime.mocks.MockMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project="aidlc-auth", stack=stack, preview=False, monitor=monitor)

    @pulumi.runtime.test
    def run() -> None:
        program()

    run()
    urns = {(_own_type(urn), urn.rsplit("::", 1)[1]): urn for urn in monitor.resources}
    return [Recorded(r.typ, r.name, r.inputs, urns.get((r.typ, r.name), "")) for r in mocks.resources]


def _own_type(urn: str) -> str:
    return urn.split("::")[2].split("$")[-1]


def of_type(resources: list[Recorded], typ: str) -> list[Recorded]:
    return [r for r in resources if r.typ == typ]
