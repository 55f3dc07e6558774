"""The import graph of sftkit/: no module imports a top-level script, and no two modules import
each other, directly or around a loop. Every import statement counts, function-local ones too,
read from the source (ast), so a lazy import cannot hide a cycle."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = {p.stem for p in REPO.glob("*.py")}  # generate_sft_data, validate_sft_data, ...


def module_name(path: Path) -> str:
    """sftkit/output/layout.py -> "sftkit.output.layout"; sftkit/demo/__init__.py -> "sftkit.demo"."""
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted((REPO / "sftkit").rglob("*.py"))}


def imported(name: str, path: Path) -> set[str]:
    """Every module `name` imports, anywhere in its source: "from sftkit.output import layout"
    -> "sftkit.output.layout" (a submodule) or "sftkit.output" (a name in the package)."""
    found = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in MODULES else base)
    return found


GRAPH = {name: imported(name, path) for name, path in MODULES.items()}


def test_the_graph_is_read():
    # The walk sees the imports it must judge: a lazy one and a package-relative one alike.
    assert "sftkit.output.gold_audit" in GRAPH["sftkit.output.report"]  # function-local
    assert "sftkit.grading.grade" in GRAPH["sftkit.generation.verdicts"]  # function-local
    assert {"generate_sft_data", "validate_sft_data", "validate_watcher"} <= SCRIPTS


def test_no_sftkit_module_imports_a_top_level_script():
    offenders = {name: sorted(found & SCRIPTS) for name, found in GRAPH.items() if found & SCRIPTS}
    assert offenders == {}


def test_no_import_cycles_between_sftkit_modules():
    edges = {n: sorted(m for m in found if m in MODULES and m != n) for n, found in GRAPH.items()}
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in edges[node]:
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for start in sorted(edges):
        if start not in state:
            visit(start, [start])
    assert cycles == []
