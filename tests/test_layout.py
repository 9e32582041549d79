"""The shape of the test tree: conftest.py files hold fixtures, and what tests share lives in tests/support.

pytest loads every conftest.py by itself, for its fixtures and hooks. Helpers that test modules import belong in
tests/support, where a reader looks for them, so no module imports a conftest and a conftest defines nothing but
fixtures and pytest hooks (constants aside).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
PYTHON_TREES = ("tests", "bench", "scripts", "devenv", "components", "auth_service")


def python_files() -> Iterator[Path]:
    for tree in PYTHON_TREES:
        yield from sorted((REPO_ROOT / tree).rglob("*.py"))


def imported_names(module: ast.Module) -> Iterator[tuple[int, str]]:
    """(line, dotted name) of every import; `from a import b` yields a.b, so `from . import conftest` counts."""
    for node in ast.walk(module):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            yield node.lineno, base
            yield from ((node.lineno, f"{base}.{alias.name}") for alias in node.names)


def is_fixture(decorator: ast.expr) -> bool:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    return ast.unparse(target) in ("pytest.fixture", "fixture")


def test_no_module_imports_a_conftest() -> None:
    offenders = sorted(
        {
            f"{path.relative_to(REPO_ROOT)}:{line} imports {name}"
            for path in python_files()
            for line, name in imported_names(ast.parse(path.read_text(encoding="utf-8")))
            if "conftest" in name.split(".")
        }
    )
    assert offenders == [], "import shared helpers from tests/support instead:\n" + "\n".join(offenders)


def test_conftest_files_define_only_fixtures() -> None:
    offenders = []
    for path in sorted((REPO_ROOT / "tests").rglob("conftest.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ClassDef) or (
                isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                and not node.name.startswith("pytest_")
                and not any(is_fixture(decorator) for decorator in node.decorator_list)
            ):
                offenders.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno} {node.name}")
    assert offenders == [], "move these to tests/support (a conftest holds fixtures only):\n" + "\n".join(offenders)


def test_bench_and_devenv_do_not_import_tests() -> None:
    """bench/ and devenv/ run outside pytest; what they share with the tests lives in devenv (processes.py)."""
    offenders = sorted(
        {
            f"{path.relative_to(REPO_ROOT)}:{line} imports {name}"
            for tree in ("bench", "devenv")
            for path in sorted((REPO_ROOT / tree).rglob("*.py"))
            for line, name in imported_names(ast.parse(path.read_text(encoding="utf-8")))
            if name.split(".")[0] == "tests"
        }
    )
    assert offenders == [], "\n".join(offenders)
