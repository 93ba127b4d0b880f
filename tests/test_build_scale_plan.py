"""A real build under the large scale plan (forced with scale="large" on 150 users of the embedded
data): the evaluation protocol follows the plan, explicit settings win, and MLflow records it."""

from __future__ import annotations

import duckdb
import pytest
from mlflow.tracking import MlflowClient

from latentlens.build.pipeline import run
from latentlens.build.settings import BuildSettings, EvaluationSettings

pytestmark = pytest.mark.build

MODELS = ("popularity", "itemknn", "biased_mf", "knn_baseline", "rating_blend")


@pytest.fixture(scope="module")
def large_build(small_dataset, tmp_path_factory):
    root = tmp_path_factory.mktemp("large-plan")
    settings = BuildSettings(
        data_dir=small_dataset, out=root / "large.duckdb", mlflow_uri=f"sqlite:///{root / 'mlflow.db'}",
        models=MODELS, quick=True, scale="large", register_model=False,
        evaluation=EvaluationSettings(max_eval_users=50, explicit=frozenset({"max_eval_users"})),
    )
    return settings, run(settings)


def test_superlinear_rating_models_skip_top_n_but_keep_their_rating_holdout(large_build) -> None:
    _, result = large_build
    rows = {r["model"]: r for r in result.comparison.to_dicts()}
    for name in ("knn_baseline", "rating_blend", "biased_mf"):
        assert rows[name]["rmse"] is not None and 0 < rows[name]["rmse_se"] < 0.2 * rows[name]["rmse"]
    for name in ("knn_baseline", "rating_blend"):
        assert rows[name]["ndcg_at_10"] is None
    assert rows["biased_mf"]["ndcg_at_10"] is not None and rows["biased_mf"]["rmse"] is not None
    assert rows["itemknn"]["ndcg_at_10"] is not None


def test_plan_and_explicit_settings_are_logged(large_build) -> None:
    settings, result = large_build
    client = MlflowClient(settings.mlflow_uri)
    params = client.get_run(result.run_id).data.params
    # the rating holdout from the plan, 50 users from the explicit setting (the plan's 5,000 lost)
    assert (params["scale"], params["max_eval_users"], params["rating_holdout_users"]) == ("large", "50", "20000")
    # what was sampled: the 50 top-N users, and every one of the 100 others for the rating holdout
    assert (params["sampled_topn_eval_users"], params["sampled_rating_holdout_users"]) == ("50", "100")
    caption = client.get_run(result.run_id).data.tags["protocols"]
    assert "50 sampled users (full training history)" in caption and "of 100 other sampled users" in caption
    assert caption in result.summary_text()
    children = client.search_runs([client.get_run(result.run_id).info.experiment_id],
                                  filter_string=f"tags.mlflow.parentRunId = '{result.run_id}'")
    tags = {c.data.tags["mlflow.runName"]: c.data.tags.get("topn_protocol") for c in children}
    assert tags["knn_baseline"] == tags["rating_blend"] == "skipped by the large scale plan"
    assert tags["biased_mf"] is None
    blend = [c for c in children if c.data.tags["mlflow.runName"] == "rating_blend"][0]
    assert "rmse_se" in blend.data.metrics and not any(k.startswith("cv_") for k in blend.data.metrics)
    assert len(client.get_metric_history(blend.info.run_id, "rmse")) == 1  # one holdout, no folds


def test_artifact_records_the_plan_and_has_every_users_list(large_build) -> None:
    settings, _ = large_build
    with duckdb.connect(str(settings.out), read_only=True) as con:
        assert con.execute("SELECT value FROM build_info WHERE key = 'scale'").fetchone() == ("large",)
        users, = con.execute("SELECT count(DISTINCT user_id) FROM user_recommendations").fetchone()
    assert users == 150


def test_the_retrain_keeps_item_fits_when_the_holdouts_are_small(small_dataset, tmp_path) -> None:
    """5 top-N users and 5 rating users of 150 hold out ~1% of the ratings: item-kNN ships its
    evaluation fit with every user's full history, so no list holds a movie its user rated,
    held-out ratings included."""
    settings = BuildSettings(
        data_dir=small_dataset, out=tmp_path / "reuse.duckdb", mlflow_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
        models=("popularity", "itemknn", "baseline"), quick=True, scale="large", register_model=False,
        topn_champion="itemknn",
        evaluation=EvaluationSettings(max_eval_users=5, rating_holdout_users=5,
                                      explicit=frozenset({"max_eval_users", "rating_holdout_users"})),
    )
    result = run(settings)
    params = MlflowClient(settings.mlflow_uri).get_run(result.run_id).data.params
    assert params["final_item_models_from_evaluation"] == "True"
    train_ratings = int(params["final_item_models_train_ratings"])
    with duckdb.connect(str(settings.out), read_only=True) as con:
        n_ratings, = con.execute("SELECT value::BIGINT FROM build_info WHERE key = 'n_ratings'").fetchone()
        assert 0.95 * n_ratings <= train_ratings < n_ratings
        seen, = con.execute(f"""
            SELECT count(*) FROM user_recommendations r
            JOIN read_csv('{small_dataset}/ratings.csv') x ON x.userId = r.user_id AND x.movieId = r.movie_id
        """).fetchone()
        users, = con.execute("SELECT count(DISTINCT user_id) FROM user_recommendations").fetchone()
    assert seen == 0 and users == 150
