"""The handler package stays light: importing the Lambda entry pulls in nothing from the build side."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("numpy", "pandas", "sklearn", "surprise", "mlflow", "polars", "scipy", "pyarrow", "latentlens.build")


def test_importing_the_handler_loads_nothing_heavy():
    code = ("import latentlens.handler.app, sys, json; "
            f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_handler_sources_do_not_import_build_or_heavy_packages():
    for path in (REPO / "handler").rglob("*.py"):
        for line in path.read_text().splitlines():
            words = line.strip().split()
            if words[:1] in (["import"], ["from"]) and len(words) > 1:
                module = words[1]
                assert not any(module == h or module.startswith(h + ".") for h in HEAVY), f"{path.name}: {line.strip()}"


def handler_imports(root: Path = REPO) -> dict[str, set[str]]:
    """handler module -> the handler modules it imports, counting every import statement: module level,
    inside functions and under TYPE_CHECKING (a function-local import still ties the two modules together)."""
    paths = {path: ".".join(("latentlens", *path.relative_to(root).with_suffix("").parts)).removesuffix(".__init__")
             for path in (root / "handler").rglob("*.py")}
    modules = set(paths.values())
    graph: dict[str, set[str]] = {}
    for path, name in paths.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
        graph[name] = {m for m in found if m in modules and m != name}
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every cycle as found by a depth-first walk (one per back edge), each from its first module back to it."""
    cycles, done, path = [], set(), []

    def walk(module: str) -> None:
        path.append(module)
        for dep in sorted(graph[module]):
            if dep in path:
                cycles.append(path[path.index(dep):] + [dep])
            elif dep not in done:
                walk(dep)
        path.pop()
        done.add(module)

    for module in sorted(graph):
        if module not in done:
            walk(module)
    return cycles


def test_no_handler_module_imports_itself_through_others_not_even_lazily():
    graph = handler_imports()
    assert "latentlens.handler.store" in graph["latentlens.handler.dynamodb"]  # the scan sees the imports
    assert "latentlens.handler.dynamodb" in graph["latentlens.handler.stores"]  # function-local ones too
    assert import_cycles(graph) == []


def test_the_cycle_check_finds_a_lazy_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert import_cycles(graph) == [["a", "b", "c", "a"]]
