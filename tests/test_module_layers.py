"""The build's modules import in one direction: no cycles, evaluation a leaf that models and stages both use."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("build", "handler")


def module_imports() -> dict[str, set[str]]:
    """latentlens module -> the latentlens modules it imports at module level (TYPE_CHECKING and
    function-local imports excluded: they cannot form an import cycle)."""
    graph: dict[str, set[str]] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(("latentlens", *parts[: -1 if parts[-1] == "__init__" else None]))
            tree = ast.parse(path.read_text())
            found = set()
            for node in tree.body:
                if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("latentlens."):
                    found.add(node.module)
                    found.update(f"{node.module}.{a.name}" for a in node.names)
                elif isinstance(node, ast.Import):
                    found.update(a.name for a in node.names if a.name.startswith("latentlens."))
            graph[name] = found
    return {m: {d for d in deps if d in graph and d != m} for m, deps in graph.items()}


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for dep in graph[todo.pop()]:
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def test_no_module_imports_itself_through_others() -> None:
    graph = module_imports()
    cycles = sorted(m for m in graph if m in reachable(graph, m))
    assert cycles == []


def test_evaluation_is_a_leaf_below_the_models() -> None:
    graph = module_imports()
    evaluation = [m for m in graph if m.startswith("latentlens.build.evaluate")]
    assert evaluation
    for module in evaluation:
        above = {d for d in reachable(graph, module)
                 if d.startswith(("latentlens.build.models", "latentlens.build.stages", "latentlens.build.pipeline"))}
        assert above == set(), f"{module} imports {above}"


def test_models_and_stages_use_the_evaluation_metrics_not_copies() -> None:
    graph = module_imports()
    assert "latentlens.build.evaluate.metrics" in graph["latentlens.build.models.hybrid"]
    # NDCG's discounts live in metrics
    assert "np.log2(np.arange(2" not in (ROOT / "build/models/hybrid.py").read_text()



def test_benchmarks_and_the_product_never_import_the_tests() -> None:
    """bench/ scripts run from a checkout without pytest's fixtures; the product never sees tests/."""
    offenders = []
    for folder in ("bench", *PACKAGES, "latentlens", "infra"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names if n == "tests" or n.startswith("tests.")]
    assert offenders == []
