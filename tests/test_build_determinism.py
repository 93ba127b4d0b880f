"""Same data, same seed: the same metrics and the same artifact contents."""

from __future__ import annotations

import duckdb
import pytest

from latentlens.build.pipeline import run
from latentlens.build.settings import BuildSettings, EvaluationSettings

pytestmark = pytest.mark.build

MODELS = ("popularity", "itemknn", "ease", "content", "baseline", "biased_mf")


def _build(data_dir, root, seed: int):
    settings = BuildSettings(data_dir=data_dir, out=root / "a.duckdb", mlflow_uri=f"sqlite:///{root / 'm.db'}",
                             models=MODELS, quick=True, seed=seed, evaluation=EvaluationSettings(folds=2),
                             register_model=False)
    result = run(settings)
    con = duckdb.connect(str(settings.out), read_only=True)
    metrics = con.execute("SELECT model, protocol, metric, value FROM model_metrics "
                          "WHERE metric NOT LIKE 'fit_seconds%' ORDER BY ALL").fetchall()
    recs = con.execute("SELECT user_id, rank, movie_id FROM user_recommendations ORDER BY ALL").fetchall()
    con.close()
    return result, metrics, recs


def test_two_builds_with_the_same_seed_agree(small_dataset, tmp_path) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    first, metrics_1, recs_1 = _build(small_dataset, tmp_path / "one", seed=7)
    second, metrics_2, recs_2 = _build(small_dataset, tmp_path / "two", seed=7)
    assert metrics_1 == metrics_2
    assert recs_1 == recs_2
    assert first.topn_champion == second.topn_champion
    assert len(metrics_1) > 20  # every model reported something


def test_models_option_selects_a_subset_and_names_unknown_models(small_dataset, tmp_path) -> None:
    import pytest

    from latentlens.build.models import registry

    assert [s.name for s in registry.select(("baseline", "ease"))] == ["baseline", "ease"]
    with pytest.raises(ValueError, match="unknown model"):
        registry.select(("nope",))

