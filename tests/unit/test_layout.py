"""The package's shape, read from its imports: no cycle, and the core imports no transport.

Read with `ast`, not by importing, so a cycle hidden by import order (or
dodged by an import inside a function) is still found.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import openspanner

PACKAGE = Path(openspanner.__file__).parent
# The core: what a third transport must be able to use without touching.
# (ingest/ joins this list once its conversions have moved to the gRPC package.)
CORE = ("domain", "ingest", "storage", "query", "errors.py", "auth.py", "access_log.py", "catalog.py")
TRANSPORTS = ("openspanner.grpc", "openspanner.http", "openspanner.v1", "grpc", "google.protobuf", "google.rpc")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py") if "v1" not in p.relative_to(PACKAGE).parts}


def imported(path: Path) -> Iterator[tuple[str, bool]]:
    """Each module a file imports, and whether the import sits at the top of the file."""
    tree = ast.parse(path.read_text())
    top = set(map(id, tree.body))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            submodules = [f"{node.module}.{alias.name}" for alias in node.names]
            names = submodules if all(s in MODULES for s in submodules) else [node.module]
        else:
            continue
        for name in names:
            yield name, id(node) in top


def test_the_core_imports_no_transport() -> None:
    found = [
        f"{name} imports {target}"
        for name, path in MODULES.items()
        if path.relative_to(PACKAGE).parts[0] in CORE
        for target, _ in imported(path)
        if target.startswith(TRANSPORTS)
    ]
    assert found == []


def test_no_import_cycle() -> None:
    graph = {
        name: {target for target, _ in imported(path) if target in MODULES and target != name}
        for name, path in MODULES.items()
    }
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        path.append(name)
        for target in sorted(graph[name]):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target):], target])
            elif target not in state:
                visit(target)
        path.pop()
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)
    assert cycles == []


def test_the_core_has_no_import_inside_a_function() -> None:
    """An import below the top of a core module is how a cycle gets dodged rather than removed."""
    found = [
        f"{name} imports {target} below the top"
        for name, path in MODULES.items()
        if path.relative_to(PACKAGE).parts[0] in CORE
        for target, at_top in imported(path)
        if not at_top
    ]
    assert found == []
