"""latentlens.run_build: a real build from code with keyword fields, and mistakes refused before anything
is trained or written. (The suite's shared build, tests/conftest.py, runs through it with typed settings.)"""

from __future__ import annotations

from pathlib import Path

import pytest

import latentlens
from latentlens.build.data.errors import DataError
from latentlens.build.pipeline import BuildResult
from latentlens.build.settings import SettingsError

pytestmark = pytest.mark.build


def test_a_build_from_keyword_fields_opens_in_a_lens(small_dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "latentlens.duckdb"
    result = latentlens.run_build(data_dir=str(small_dataset), out=str(out),
                                  mlflow_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", quick=True,
                                  models=("popularity", "itemknn"), register_model=False, top_n=20, similar_n=10,
                                  evaluation=latentlens.EvaluationSettings(folds=2))
    assert isinstance(result, BuildResult)
    assert result.artifact.path == out and result.registered_model is None
    assert set(result.comparison["model"].to_list()) == {"popularity", "itemknn"}
    with latentlens.open(out, tmp_dir=str(tmp_path / "lltmp")) as lens:
        info = lens.info()
        assert (info.artifact_sha256, info.build.mlflow_run_id) == (result.artifact.sha256, result.run_id)
        assert info.build.dataset_name == "ml-small-150" and info.counts.users == 150
        picks = lens.recommend(1, n=20)
        assert picks.source == "personal" and len(picks.items) == 20


def _no_output(tmp_path: Path) -> None:
    assert not (tmp_path / "out").exists() and not (tmp_path / "mlflow.db").exists()


def test_mistakes_are_refused_before_anything_is_written(small_dataset: Path, tmp_path: Path) -> None:
    base = latentlens.BuildSettings(data_dir=small_dataset, out=tmp_path / "out" / "latentlens.duckdb",
                                    mlflow_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", quick=True)
    with pytest.raises(TypeError, match="no_such_field"):
        latentlens.run_build(base, no_such_field=1)
    with pytest.raises(DataError, match="nowhere") as missing:
        latentlens.run_build(base, data_dir=str(tmp_path / "nowhere"))
    assert isinstance(missing.value, ValueError)
    with pytest.raises(SettingsError, match="no_such_model"):
        latentlens.run_build(base, models=("popularity", "no_such_model"))
    with pytest.raises(SettingsError, match="ftp"):
        latentlens.run_build(base, mlflow_uri="ftp://example/mlflow")
    with pytest.raises(ValueError, match="engine"):
        latentlens.run_build(base, engine="gpu")
    _no_output(tmp_path)
