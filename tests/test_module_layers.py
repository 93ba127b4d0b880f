"""The package's modules import in one direction: no cycles, evaluation a leaf that models and stages both use.

Every import statement counts (module level, function-local, under `if TYPE_CHECKING:`): a function-local import
still ties two modules together, and a circle of them is the knot the layering exists to avoid.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# each folder once, as the latentlens.… names it installs under (latentlens/build and latentlens/handler are links
# to build/ and handler/, which are walked where they live)
FOLDERS = {"build": "latentlens.build", "handler": "latentlens.handler", "latentlens": "latentlens"}


def module_files() -> dict[str, Path]:
    """latentlens module name -> its file, for every .py file under FOLDERS (links not followed)."""
    files: dict[str, Path] = {}
    for folder, package in FOLDERS.items():
        for directory, subdirs, names in os.walk(ROOT / folder):  # os.walk follows no link to a directory
            subdirs[:] = sorted(d for d in subdirs if d != "__pycache__")
            for file in sorted(n for n in names if n.endswith(".py")):
                path = Path(directory, file)
                parts = path.relative_to(ROOT / folder).with_suffix("").parts
                parts = parts[:-1] if parts[-1] == "__init__" else parts
                files[".".join((package, *parts))] = path
    return files


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and (
        (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING")
        or (isinstance(node.test, ast.Attribute) and node.test.attr == "TYPE_CHECKING"))


def _import_statements(tree: ast.AST, type_checking: bool) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement in `tree`, at any depth; those under `if TYPE_CHECKING:` only when asked."""
    found: list[ast.Import | ast.ImportFrom] = []
    todo: list[ast.AST] = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        elif _is_type_checking(node) and not type_checking:
            assert isinstance(node, ast.If)
            todo.extend(node.orelse)
        else:
            todo.extend(ast.iter_child_nodes(node))
    return found


def imported_names(tree: ast.Module, module: str, is_package: bool, type_checking: bool = True) -> set[str]:
    """Every name an import statement anywhere in `tree` imports: `import a.b` -> a.b; `from a.b import c` -> a.b
    and a.b.c (kept below when it is a module); relative imports resolved against `module`."""
    found: set[str] = set()
    for node in _import_statements(tree, type_checking):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        else:
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            found.add(source)
            found.update(f"{source}.{alias.name}" for alias in node.names)
    return found


def module_imports(type_checking: bool = True) -> dict[str, set[str]]:
    """latentlens module -> the latentlens modules it imports, by any import statement it holds (those under
    `if TYPE_CHECKING:` unless `type_checking` is False: then what runs)."""
    files = module_files()
    graph = {}
    for module, path in files.items():
        names = imported_names(ast.parse(path.read_text()), module, path.name == "__init__.py", type_checking)
        graph[module] = {name for name in names if name in files and name != module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for dep in sorted(graph[node]):
            if dep not in index:
                visit(dep)
                low[node] = min(low[node], low[dep])
            elif dep in on_stack:
                low[node] = min(low[node], index[dep])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for dep in graph[todo.pop()]:
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def test_the_import_graph_covers_every_module_once() -> None:
    graph = module_imports()
    assert {"latentlens", "latentlens._version", "latentlens.cli", "latentlens.build.pipeline",
            "latentlens.handler.app"} <= set(graph)
    assert not any(".build.build." in m or ".handler.handler." in m for m in graph)  # the links are not walked
    # every kind of import statement counts: function-local, under TYPE_CHECKING, relative
    tree = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from latentlens.build import settings\n"
                     "def f():\n    import latentlens.handler.app\n    from . import pipeline\n"
                     "    from .stages import x\n")
    names = imported_names(tree, "latentlens.build.report", is_package=False)
    assert names == {"typing", "typing.TYPE_CHECKING", "latentlens.build", "latentlens.build.settings",
                     "latentlens.handler.app", "latentlens.build.pipeline", "latentlens.build.stages",
                     "latentlens.build.stages.x"}
    assert "latentlens.build.settings" not in imported_names(tree, "latentlens.build.report", False, False)
    assert imported_names(ast.parse("from .. import x"), "latentlens.build.stages", is_package=True) == {
        "latentlens.build", "latentlens.build.x"}


def test_no_module_imports_itself_through_others() -> None:
    found = cycles(module_imports())
    for component in found:
        print(f"import cycle of {len(component)} modules: {' <-> '.join(component)}")
    assert found == [], "\n".join(" <-> ".join(component) for component in found)


def test_the_package_face_and_the_version_import_downward_only() -> None:
    """`latentlens` (the lazy face) may import anything below it; nothing imports it back, and the version is
    a leaf the build reads without the face."""
    graph = module_imports()
    assert graph["latentlens._version"] == set()
    assert [m for m, deps in graph.items() if "latentlens" in deps] == []


def test_evaluation_is_a_leaf_below_the_models() -> None:
    """Nothing in evaluate/ runs model or stage code (module level or in a function); it names the model
    interface in annotations only (under TYPE_CHECKING), which is why that graph leaves those out."""
    graph = module_imports(type_checking=False)
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
    for folder in ("bench", *FOLDERS, "infra"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names if n == "tests" or n.startswith("tests.")]
    assert offenders == []
