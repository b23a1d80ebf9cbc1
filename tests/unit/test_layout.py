"""The package's shape, read from its imports: no cycle, the core imports no transport, and
no transport imports another (each converts at its own edge; server.py assembles them).

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
CORE = (
    "domain", "ingest", "storage", "query", "alerts", "errors.py", "product_errors.py", "auth.py", "access_log.py",
    "catalog.py", "refresh.py", "config.py", "logging.py", "metrics.py", "retry.py",
    "webhooks", "exports", "background.py",
)
TRANSPORTS = (
    "openspanner.grpc", "openspanner.http", "openspanner.dashboard", "openspanner.v1",
    "grpc", "google.protobuf", "google.rpc", "fastapi", "starlette",
)
# The server's edges, each a package of its own: none may import another.
TRANSPORT_PACKAGES = ("grpc", "http", "dashboard")


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
        elif isinstance(node, ast.ImportFrom):
            module = absolute(path, node)
            submodules = [f"{module}.{alias.name}" for alias in node.names]
            names = submodules if all(s in MODULES for s in submodules) else [module]
        else:
            continue
        for name in names:
            yield name, id(node) in top


def absolute(path: Path, node: ast.ImportFrom) -> str:
    """The module a `from ... import` names, a relative one (`from ..http import x`) resolved."""
    if node.level == 0:
        return node.module or ""
    package = path.parent  # `.` is the file's own package, an __init__.py's too
    for _ in range(node.level - 1):
        package = package.parent
    base = module_name(package / "__init__.py")
    return f"{base}.{node.module}" if node.module else base


def transport_of(module: str) -> str | None:
    """The transport package a module belongs to (`grpc` for openspanner.grpc.product.usage), if any."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "openspanner" and parts[1] in TRANSPORT_PACKAGES else None


def test_the_core_imports_no_transport() -> None:
    found = [
        f"{name} imports {target}"
        for name, path in MODULES.items()
        if path.relative_to(PACKAGE).parts[0] in CORE
        for target, _ in imported(path)
        if target.startswith(TRANSPORTS)
    ]
    assert found == []


def test_no_transport_imports_another() -> None:
    """gRPC, REST and the dashboard share only the core; what two of them answer alike (the
    product's failure codes, the stored event) lives below them, and server.py joins them."""
    found = [
        f"{name} imports {target}"
        for name, path in MODULES.items()
        if (edge := transport_of(name)) is not None
        for target, _ in imported(path)
        if transport_of(target) not in (None, edge)
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
