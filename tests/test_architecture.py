"""The shape of the code: which package may import which, and no import cycles.

Read from the sources (no imports run), so a violation is found even in a
module no test happens to load.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("keys", "realtime", "access", "gateway_project")


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported(node: ast.Import | ast.ImportFrom) -> set[str]:
    """First-party modules an import statement loads (the code has no relative
    imports; a test below keeps it that way)."""
    if isinstance(node, ast.Import):
        candidates = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        candidates = [f"{base}.{alias.name}" for alias in node.names] + [base]
    targets = set()
    for candidate in candidates:
        while candidate and candidate not in MODULES:
            candidate = candidate.rpartition(".")[0]
        if candidate:
            targets.add(candidate)
    return targets


def _imports(module: str, *, load_time_only: bool) -> set[str]:
    """The first-party modules `module` imports (at load time, or anywhere)."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.Import | ast.ImportFrom):
                found.update(_imported(node))
            elif isinstance(node, ast.If) and not _is_type_checking(node):
                visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
            elif not load_time_only:
                for child in ast.walk(node):
                    if isinstance(child, ast.Import | ast.ImportFrom):
                        found.update(_imported(child))

    visit(tree.body)
    found.discard(module)
    return found


def test_imports_are_absolute():
    relative = [
        module
        for module, path in MODULES.items()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom) and node.level
    ]
    assert relative == []


def test_no_module_imports_the_consumer_but_the_routes():
    importers = {
        module
        for module in MODULES
        if "realtime.consumers" in _imports(module, load_time_only=False)
    }
    assert importers <= {"realtime.routing"}


def test_modules_import_each_other_without_cycles():
    graph = {module: _imports(module, load_time_only=True) for module in MODULES}
    # Importing a submodule runs its package's __init__ first; packages here are
    # thin, so the edges that matter are module to module.
    cycles = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def walk(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                walk(target, [*path, target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            walk(module, [module])
    assert cycles == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_modules_stay_a_size_a_reader_can_hold(module):
    if module.startswith("realtime.dialects."):  # pure tables, sectioned
        return
    limit = 600 if module.startswith("realtime.testing") else 450  # fakes
    lines = len(MODULES[module].read_text(encoding="utf-8").splitlines())
    assert lines <= limit, f"{module} has {lines} lines"
