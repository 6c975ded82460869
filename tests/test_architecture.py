"""The dependency rules the README states, checked on the source: no module imports another that
imports it back (at import time), and the core imports no surface, server or command line."""

from __future__ import annotations

import ast
from pathlib import Path

from .conftest import REPO

PACKAGE = REPO / "botkit"


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imported_at_load(path: Path) -> set[str]:
    """botkit modules ``path`` imports when it is imported (not inside functions, nor under
    ``if TYPE_CHECKING``); ``from package import submodule`` counts as the submodule."""
    found: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            subs = {f"{node.module}.{a.name}" for a in node.names} & MODULES.keys()
            found.update(subs)
            if len(subs) < len(node.names):
                found.add(node.module)
    return found & MODULES.keys()


def test_no_import_cycles() -> None:
    graph = {name: imported_at_load(path) - {name} for name, path in MODULES.items()}
    cycles = []
    state: dict[str, int] = {}  # 1: being visited, 2: done

    def visit(name: str, trail: list[str]) -> None:
        state[name] = 1
        for other in sorted(graph[name]):
            if state.get(other) == 1:
                cycles.append([*trail[trail.index(other) :], other])
            elif other not in state:
                visit(other, [*trail, other])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []


def test_the_core_imports_no_surface_server_or_command_line() -> None:
    outer = ("botkit.adapters", "botkit.serve", "botkit.cli", "botkit.testing")
    for name, path in MODULES.items():
        if name.startswith(("botkit.core", "botkit.models", "botkit.knowledge")):
            wrong = sorted(m for m in imported_at_load(path) if m.startswith(outer))
            assert wrong == [], f"{name} imports {wrong}"
