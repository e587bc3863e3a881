"""The package's shape: no import circles, and every import points down the layers.

    cli, server  ->  evaluate  ->  index (the facade)  ->  stages  ->  store
                                                           (indexer, query, retrieval,
                                                            embed, ingest)

The top-level records (errors, settings, records, request) may be imported from anywhere.
Every import counts, those inside functions too; only `if TYPE_CHECKING:` blocks are left
out, since they never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "hubsearch"
LEAVES = {"hubsearch", "hubsearch.errors", "hubsearch.settings", "hubsearch.records", "hubsearch.request",
          "hubsearch.__main__"}
RANK = {"cli": 5, "server": 5, "evaluate": 4, "index": 3, "indexer": 2, "query": 2, "retrieval": 1, "embed": 1,
        "ingest": 1, "store": 0}
STAGES_IN_ORDER = {"cli": {"server"}, "indexer": {"query", "retrieval", "embed", "ingest", "store"}, "query": {"retrieval", "embed",
                   "ingest", "store"}}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """The hubsearch modules `path` imports, resolved to module names."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(n) for child in node.body for n in ast.walk(child))
    name = module_name(path)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    known = {module_name(p) for p in PACKAGE.rglob("*.py")}
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            stem = ".".join(base + ([node.module] if node.module else []))
            targets = [f"{stem}.{alias.name}" if f"{stem}.{alias.name}" in known else stem for alias in node.names]
        else:
            continue
        found.update(t for t in targets if t.startswith("hubsearch") and t in known and t != name)
    return found


def graph() -> dict[str, set[str]]:
    return {module_name(p): imports(p) for p in PACKAGE.rglob("*.py")}


def layer(module: str) -> str | None:
    if module in LEAVES:
        return None
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def test_there_is_no_import_circle() -> None:
    edges = graph()
    # The package's __init__ loads its public names by string on first use, so no edge
    # leaves it; a circle through it is impossible.
    seen: dict[str, int] = {}  # 1: on the current path, 2: done
    circles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        seen[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if seen.get(nxt) == 1:
                circles.append(path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt])
            elif nxt not in seen:
                visit(nxt, path + [nxt])
        seen[node] = 2

    for start in sorted(edges):
        if start not in seen:
            visit(start, [start])
    assert circles == []


def test_every_import_points_down() -> None:
    upward = []
    for module, targets in graph().items():
        here = layer(module)
        if here is None:
            continue
        for target in targets:
            there = layer(target)
            if there is None or there == here:
                continue
            if RANK[there] > RANK[here] or (RANK[there] == RANK[here] and there not in STAGES_IN_ORDER.get(here, ())):
                upward.append(f"{module} -> {target}")
    assert upward == []


def test_leaves_import_only_leaves() -> None:
    for module in LEAVES - {"hubsearch", "hubsearch.__main__"}:
        assert graph()[module] <= LEAVES, module


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_is_over_400_lines(path: Path) -> None:
    assert len(path.read_text(encoding="utf-8").splitlines()) <= 400


def test_the_walker_sees_function_level_imports(tmp_path: Path) -> None:
    # The check above can fail: a lazy import inside a function is an edge like any other.
    assert "hubsearch.embed.transformer" in imports(PACKAGE / "embed" / "factory.py")
    assert "hubsearch.index" not in imports(PACKAGE / "indexer" / "lifecycle.py")
