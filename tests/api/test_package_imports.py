"""`import latentlens` stays import-light (the Lambda imports it on every cold start, hatch reads its
version): the Python API is resolved on first use, and each part imports only what it needs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WATCHED = ("duckdb", "polars", "mlflow", "numpy", "pandas", "pyarrow", "fastapi", "pydantic", "latentlens.build",
           "latentlens.handler")


def loaded_after(code: str) -> list[str]:
    probe = f"{code}\nimport sys, json\nprint(json.dumps(sorted(m for m in {WATCHED!r} if m in sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_latentlens_loads_only_the_standard_library() -> None:
    assert loaded_after("import latentlens; assert latentlens.__version__") == []
    out = subprocess.run([sys.executable, "-c", "import sys, json; before = set(sys.modules); import latentlens; "
                          "print(json.dumps(sorted(set(sys.modules) - before)))"],
                         cwd=REPO, capture_output=True, text=True, timeout=60, check=True).stdout
    new = json.loads(out.strip().splitlines()[-1])
    stdlib = set(sys.stdlib_module_names)
    assert [m for m in new if m.split(".")[0] not in stdlib | {"latentlens"}] == []


def test_open_loads_the_handler_but_not_polars_mlflow_or_numpy(tmp_path) -> None:
    code = ("import latentlens\n"
            "try:\n    latentlens.open('/nonexistent/latentlens.duckdb')\n"
            "except latentlens.ArtifactUnavailable as exc:\n    assert exc.reason == 'artifact_missing'\n")
    assert loaded_after(code) == ["duckdb", "latentlens.handler", "pydantic"]


def test_sql_loads_polars_only_when_called(tmp_path) -> None:
    from tests.handler.fixture_artifact import build_fixture_artifact

    db = build_fixture_artifact(tmp_path / "latentlens.duckdb")
    code = (f"import latentlens, sys\nlens = latentlens.open({str(db)!r}, tmp_dir={str(tmp_path / 'lltmp')!r})\n"
            "lens.movie(858)\nassert 'polars' not in sys.modules\n"
            "assert lens.sql('SELECT 1 AS one').to_dicts() == [{'one': 1}]\n")
    assert "polars" in loaded_after(code)
    assert "mlflow" not in loaded_after(code) and "fastapi" not in loaded_after(code)


def test_the_api_is_listed_and_the_subpackages_still_import() -> None:
    code = ("import latentlens, latentlens.cli, latentlens.handler.app, types\n"
            "assert {'open', 'Lens', 'NotFound', 'InvalidParameter', 'ArtifactUnavailable', 'run_build', 'load_model',"
            " 'BuildSettings', 'build', 'handler'} <= set(dir(latentlens))\n"
            "assert set(latentlens.__all__) <= set(dir(latentlens))\n"
            "assert isinstance(latentlens.build, types.ModuleType) and callable(latentlens.run_build)\n"
            "assert latentlens.BuildSettings is latentlens.build.settings.BuildSettings\n"
            "try:\n    latentlens.nope\nexcept AttributeError as exc:\n    assert 'nope' in str(exc)\n"
            "else:\n    raise SystemExit('no AttributeError')\n")
    loaded_after(code)
