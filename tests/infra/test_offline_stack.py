"""The offline harness itself: one set of mocks, Pulumi's public testing API only, runs that do not see each other."""

from __future__ import annotations

import ast

import pulumi

from scripts.offline_stack import ROOT, StackGraph, build, of_type, run_offline

HARNESS = ROOT / "scripts" / "offline_stack.py"
PYTHON_TREES = ["scripts", "tests", "policy", "bench", "bootstrap", "components", "devenv"]


def _dotted(node: ast.expr) -> str | None:
    """`a.b.c` for a chain of plain attribute accesses, None for anything else (calls, subscripts)."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return f"{inner}.{node.attr}" if inner else None
    return None


def _pulumi_names(tree: ast.Module) -> list[str]:
    """Every pulumi module, name and attribute chain the code imports or reaches."""
    aliases = {"pulumi"}
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "pulumi":
            names += [f"{node.module}.{alias.name}" for alias in node.names]
            aliases |= {alias.asname or alias.name for alias in node.names}
        elif isinstance(node, ast.Import):
            names += [alias.name for alias in node.names if alias.name.split(".")[0] == "pulumi"]
    for node in ast.walk(tree):
        dotted = _dotted(node) if isinstance(node, ast.Attribute) else None
        if dotted and dotted.split(".")[0] in aliases:
            names.append(dotted)
    return names


def test_the_harness_uses_only_pulumis_public_api() -> None:
    names = _pulumi_names(ast.parse(HARNESS.read_text()))
    assert "pulumi.runtime.set_mocks" in names
    assert "pulumi.runtime.test" in names
    private = [name for name in names if any(part.startswith("_") for part in name.split("."))]
    assert private == []
    # pulumi.runtime's exported API, plus the module of set_mocks' own parameter types (MockMonitor)
    runtime_members = {name.split(".")[2] for name in names if name.startswith("pulumi.runtime.")}
    assert runtime_members <= {*pulumi.runtime.__all__, "mocks"}


def test_the_harness_is_the_only_pulumi_mocks() -> None:
    mocks = [
        f"{path.relative_to(ROOT)}:{node.name}"
        for tree in PYTHON_TREES
        for path in sorted((ROOT / tree).rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ClassDef) and any(ast.unparse(base).endswith("Mocks") for base in node.bases)
    ]
    assert mocks == ["scripts/offline_stack.py:RecordingMocks"]


def test_each_run_starts_from_its_own_root_stack(staging: StackGraph) -> None:
    """A run that reused the previous run's root stack would also report that run's exports."""
    identity = run_offline(
        program_dir=ROOT / "bootstrap", config_overrides={"aidlc-auth-bootstrap:githubRepository": "acme/aidlc-auth"}
    )
    stack_again = run_offline()
    assert identity.outputs
    assert not set(identity.outputs) & set(stack_again.outputs)
    assert stack_again.outputs == staging.outputs


def test_a_component_built_alone_records_only_its_own_resources(staging: StackGraph) -> None:
    def probe() -> None:
        parent = pulumi.ComponentResource("test:index:Probe", "probe")
        pulumi.CustomResource("test:index:Leaf", "leaf", {"size": 1}, opts=pulumi.ResourceOptions(parent=parent))

    recorded = build(probe)
    assert [(r.typ, r.name) for r in recorded] == [("test:index:Probe", "probe"), ("test:index:Leaf", "leaf")]
    (leaf,) = of_type(recorded, "test:index:Leaf")
    assert leaf.parent_types == ["test:index:Probe"]
    assert leaf.inputs == {"size": 1}
    assert leaf.state["id"] == "leaf-leaf-id"
