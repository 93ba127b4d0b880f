"""The notebooks (notebooks/*.ipynb) run in a real Jupyter kernel, the venv's Python, against the suite's quick build;
each ends in assertions on what it computed, and the values it prints are checked here against the build. The
committed notebooks are stripped (no outputs, no execution counts) and read their inputs from one parameters cell.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient

from tests.conftest import EMBEDDED, REPO
from tests.test_docs_sql import page_queries

NOTEBOOKS = REPO / "notebooks"
NAMES = ("01-data.ipynb", "02-models.ipynb", "03-mlflow.ipynb", "04-sql.ipynb")
INPUTS = ("LATENTLENS_DB", "MLFLOW_TRACKING_URI", "LATENTLENS_DATA")  # what the parameters cells read
KERNEL = "latentlens-venv"


def test_the_notebooks_are_the_four() -> None:
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == list(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_committed_notebook_is_stripped(name: str) -> None:
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        assert "execution" not in cell.metadata, f"{name}: cell {cell.id} keeps run metadata (make notebooks-strip)"
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{name}: cell {cell.id} has outputs (make notebooks-strip)"
            assert cell.execution_count is None, f"{name}: cell {cell.id} has an execution count"


def code_cells(name: str) -> list[nbformat.NotebookNode]:
    return [c for c in nbformat.read(NOTEBOOKS / name, as_version=4).cells if c.cell_type == "code"]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("cwd", [NOTEBOOKS, REPO], ids=["from-notebooks", "from-repo"])
def test_one_parameters_cell_defaults_to_what_make_run_writes(name: str, cwd: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from latentlens.build.settings import BuildSettings, default_tracking_uri
    from latentlens.handler.schema import DEFAULT_ARTIFACT

    first, *rest = code_cells(name)
    assert first.id == "parameters" and first.metadata.get("tags") == ["parameters"], name
    assert not [c.id for c in rest if any(f'"{variable}"' in c.source for variable in INPUTS)], \
        f"{name}: an environment variable read outside the parameters cell"
    for variable in INPUTS:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.chdir(REPO)  # the build's own defaults are relative to the repository root
    expected = {"DB": str(REPO / DEFAULT_ARTIFACT), "MLFLOW_TRACKING_URI": default_tracking_uri(),
                "DATA": str(REPO / BuildSettings().data_dir)}
    monkeypatch.chdir(cwd)  # Jupyter starts a kernel in the notebook's folder
    namespace: dict = {}
    exec(first.source, namespace)
    read = {key: namespace[key] for key in expected if key in namespace}
    assert read and read == {key: expected[key] for key in read}, name


def test_the_sql_notebook_runs_every_documented_query_as_written() -> None:
    source = "\n".join(c.source for c in code_cells("04-sql.ipynb"))
    missing = [q.splitlines()[0] for q in page_queries() if q.rstrip() not in source]
    assert not missing, f"docs/sql.md queries not in notebooks/04-sql.ipynb as written: {missing}"


# --- executed against the suite's build -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def run_notebook(embedded_build, tmp_path_factory: pytest.TempPathFactory):
    """name -> the notebook executed in a fresh kernel of this venv's Python, its inputs pointed at the suite's
    build (each notebook once per module)."""
    settings, _ = embedded_build
    kernels = tmp_path_factory.mktemp("kernels")
    (kernels / KERNEL).mkdir()
    env = {"LATENTLENS_DB": str(settings.out), "MLFLOW_TRACKING_URI": settings.mlflow_uri,
           "LATENTLENS_DATA": str(EMBEDDED),
           # the kernel's inline backend (Agg underneath, no display): plots come back as PNG outputs
           "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    (kernels / KERNEL / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "LatentLens venv", "language": "python", "env": env}))
    done: dict[str, nbformat.NotebookNode] = {}

    def run(name: str) -> nbformat.NotebookNode:
        if name not in done:
            notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
            kernel = AsyncKernelManager(kernel_name=KERNEL,
                                        kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernels)]))
            client = NotebookClient(notebook, km=kernel, timeout=300, shutdown_kernel="immediate",
                                    resources={"metadata": {"path": str(NOTEBOOKS)}})
            client.execute(cleanup_kc=True)  # a kernel manager of our own: shut its kernel down when done
            done[name] = notebook
        return done[name]

    return run


def stdout(notebook: nbformat.NotebookNode, cell_id: str) -> str:
    cell = next(c for c in notebook.cells if c.id == cell_id)
    return "".join(o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stdout")


def has_plot(notebook: nbformat.NotebookNode, cell_id: str) -> bool:
    cell = next(c for c in notebook.cells if c.id == cell_id)
    return any("image/png" in o.get("data", {}) for o in cell.outputs)


@pytest.mark.parametrize("name", NAMES)
def test_notebook_executes_and_stripping_gives_back_the_committed_file(run_notebook, name: str,
                                                                       tmp_path: Path) -> None:
    executed = run_notebook(name)  # a failed cell (its asserts included) raises CellExecutionError here
    errors = [o for c in executed.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    assert all(c.execution_count for c in executed.cells if c.cell_type == "code"), "a cell did not run"
    copy = tmp_path / name
    nbformat.write(executed, copy)
    subprocess.run([sys.executable, str(NOTEBOOKS / "strip.py"), str(copy)], check=True, capture_output=True)
    assert copy.read_text(encoding="utf-8") == (NOTEBOOKS / name).read_text(encoding="utf-8")


def test_data_notebook_shows_what_data_info_prints(run_notebook) -> None:
    notebook = run_notebook("01-data.ipynb")
    said = subprocess.run([sys.executable, "-m", "latentlens", "data", "info", str(EMBEDDED)],
                          capture_output=True, text=True, check=True).stdout
    assert stdout(notebook, "data-info") == said
    assert all(has_plot(notebook, cell) for cell in ("ratings", "long-tail", "activity", "genres"))
    counts = json.loads(subprocess.run([sys.executable, "-m", "latentlens", "data", "info", str(EMBEDDED), "--json"],
                                       capture_output=True, text=True, check=True).stdout)["counts"]
    assert stdout(notebook, "checks") == f"counts as `latentlens data info` says: {counts}\n"


def test_models_notebook_prints_the_builds_comparison_read_back_from_mlflow(run_notebook, embedded_build) -> None:
    _, result = embedded_build
    notebook = run_notebook("02-models.ipynb")
    assert result.comparison_text() + "\n" in stdout(notebook, "comparison")
    assert stdout(notebook, "checks") == (f"{result.comparison.height} models compared; champions: top-N "
                                          f"{result.topn_champion}, rating {result.rating_champion}\n")
    assert has_plot(notebook, "ndcg") and has_plot(notebook, "folds")


def test_mlflow_notebook_champion_predicts_the_artifacts_list(run_notebook, embedded_build) -> None:
    settings, _ = embedded_build
    notebook = run_notebook("03-mlflow.ipynb")
    printed = re.fullmatch(r"user 1: the champion's top 10 from MLflow = the artifact's: (\[.*\])\n",
                           stdout(notebook, "checks"))
    assert printed, stdout(notebook, "checks")
    with duckdb.connect(str(settings.out), read_only=True) as con:
        stored = [r[0] for r in con.execute("SELECT movie_id FROM user_recommendations WHERE user_id = 1 "
                                            "AND rank <= 10 ORDER BY rank").fetchall()]
    assert ast.literal_eval(printed.group(1)) == stored and len(stored) == 10


def test_sql_notebook_documented_queries_answer_as_on_the_page(run_notebook, embedded_build) -> None:
    settings, _ = embedded_build
    notebook = run_notebook("04-sql.ipynb")
    with duckdb.connect(str(settings.out), read_only=True) as con:
        rows = [len(con.execute(q).fetchall()) for q in page_queries()]
    assert stdout(notebook, "checks") == f"rows per documented query: {rows}\n"
    assert "because you rated" in stdout(notebook, "because-api")

