"""The Python API page's example (docs/python-api.md) and the README's short one, run as written from a directory
laid out like the repository after `make build` (artifacts/latentlens.duckdb and ./mlflow.db, here links to the
suite's real build)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "python-api.md"
README = ROOT / "README.md"


def page_example() -> str:
    """The example at the top of the page, before its first `##` section."""
    section = PAGE.read_text(encoding="utf-8").split("# Python API\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1, "the Python API page opens with one example"
    return blocks[0]


def readme_example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) == 1, "the README has one Python example"
    return blocks[0]


def test_the_example_is_about_ten_lines() -> None:
    assert 8 <= len(page_example().strip().splitlines()) <= 15


def laid_out_like_the_repository(embedded_build, tmp_path: Path) -> dict[str, str]:
    """artifacts/ and ./mlflow.db in tmp_path linking to the suite's build; the environment to run an example in."""
    settings, _ = embedded_build
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    (artifacts / "latentlens.duckdb").symlink_to(Path(settings.out).resolve())
    (artifacts / "latentlens.duckdb.sha256").symlink_to(Path(f"{settings.out}.sha256").resolve())
    (tmp_path / "mlflow.db").symlink_to(Path(settings.mlflow_uri.removeprefix("sqlite:///")).resolve())
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI" and not k.startswith("LATENTLENS_")}
    env["LATENTLENS_TMP_DIR"] = str(tmp_path / "lltmp")
    return env


def test_the_page_example_runs_against_a_real_build(embedded_build, tmp_path) -> None:
    _, result = embedded_build
    env = laid_out_like_the_repository(embedded_build, tmp_path)
    out = subprocess.run([sys.executable, "-c", page_example()], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == f"{result.topn_champion} 610"
    assert len([line for line in lines if " because " in line]) == 3  # three comedies for user 1
    assert "Godfather: Part II, The (1974)" in lines[4]  # similar to The Godfather
    assert lines[6] == "Godfather, The (1972)"  # "godfathr" found
    assert "9742" in out.stdout  # the SQL count, as a polars table
    assert "user_id" in out.stdout and "movie_id" in out.stdout  # the registered top-N model's lists
    assert sorted(p.name for p in tmp_path.iterdir()) == ["artifacts", "lltmp", "mlflow.db"]  # no stray mlruns


def test_the_readme_example_runs_against_a_real_build(embedded_build, tmp_path) -> None:
    env = laid_out_like_the_repository(embedded_build, tmp_path)
    out = subprocess.run([sys.executable, "-c", readme_example()], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "Godfather: Part II, The (1974)" in out.stdout  # similar to The Godfather
