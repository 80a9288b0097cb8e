"""docs/architecture.md's dependency direction is the import graph: 0 upward imports, 0 cycles.

Every ``import`` of an obs-gate module anywhere in a module counts (top level, inside functions,
under ``TYPE_CHECKING``): a lower layer that needs an upper one's type gets an interface instead.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import obsgate

PACKAGE = Path(obsgate.__file__).parent
# Lowest first, as docs/architecture.md lists them; a module may import its own layer and those below.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("obsgate.core",),
    ("obsgate.stackfiles",),
    ("obsgate.bringup",),
    ("obsgate.clients",),
    ("obsgate.backup",),
    ("obsgate.checks",),
    ("obsgate.load",),
    ("obsgate.run",),
    ("obsgate.gate",),
    ("obsgate.up", "obsgate.repeat", "obsgate.__main__"),
)
TOP = ("obsgate",)   # the package's own __init__: a version string, imported by anyone


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def layer(module: str) -> int:
    for index, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return index
    if module in TOP:
        return -1
    raise AssertionError(f"{module} is in no layer of docs/architecture.md (add it to LAYERS and the doc)")


def imports(module: str) -> Iterator[str]:
    """The obs-gate modules ``module`` imports (``from pkg import sub`` names the submodule)."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.split(".")[0] == "obsgate")
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            if base.split(".")[0] != "obsgate":
                continue
            for alias in node.names:
                yield f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base


GRAPH = {m: sorted({t for t in imports(m) if t != m}) for m in MODULES}


def test_every_module_has_a_layer() -> None:
    for module in MODULES:
        layer(module)


def test_no_module_imports_a_layer_above_its_own() -> None:
    upward = [f"{m} (layer {layer(m)}) imports {t} (layer {layer(t)})"
              for m, targets in GRAPH.items() for t in targets if layer(t) > layer(m)]
    assert upward == []


def test_no_import_cycles() -> None:
    """Tarjan's strongly connected components over modules: any with more than one member is a cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in GRAPH.get(node, []):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            members = []
            while True:
                member = stack.pop()
                members.append(member)
                if member == node:
                    break
            if len(members) > 1:
                cycles.append(sorted(members))

    for module in GRAPH:
        if module not in index:
            visit(module)
    assert cycles == []


def test_the_documented_order_is_the_tested_one() -> None:
    """docs/architecture.md states the layers in this order (one line, lowest first, `→`-separated)."""
    doc = (PACKAGE.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    line = next((ln for ln in doc.splitlines() if ln.startswith("Layers, lowest first:")), None)
    if line is None:
        pytest.fail("docs/architecture.md has no 'Layers, lowest first:' line")
    documented = [part.strip(" `.") for part in line.split(":", 1)[1].split("→")]
    assert documented == [" / ".join(p.removeprefix("obsgate.") for p in prefixes) for prefixes in LAYERS]
