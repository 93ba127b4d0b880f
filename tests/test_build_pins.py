"""Pinned champions: the build ships the model it was told to, still logs what the metrics chose,
and refuses a pin it cannot honour before training anything."""

from __future__ import annotations

import duckdb
import pytest
from mlflow.tracking import MlflowClient

from latentlens.build.pipeline import run
from latentlens.build.settings import BuildSettings
from latentlens.cli import main

pytestmark = pytest.mark.build

MODELS = ("popularity", "itemknn", "baseline", "biased_mf")


def best(comparison, column: str, pick) -> str:
    rows = [r for r in comparison.to_dicts() if r[column] is not None]
    return pick(rows, key=lambda r: r[column])["model"]


@pytest.fixture(scope="module")
def pinned_build(small_dataset, tmp_path_factory):
    root = tmp_path_factory.mktemp("pinned")
    settings = BuildSettings(data_dir=small_dataset, out=root / "pinned.duckdb",
                             mlflow_uri=f"sqlite:///{root / 'mlflow.db'}", models=MODELS, quick=True,
                             register_model=False, topn_champion="popularity", rating_champion="biased_mf")
    return settings, run(settings)


def test_pinned_models_are_shipped_and_the_metrics_choice_is_logged(pinned_build) -> None:
    settings, result = pinned_build
    by_metric_topn = best(result.comparison, "ndcg_at_10", max)
    by_metric_rating = best(result.comparison, "rmse", min)
    assert by_metric_topn != "popularity" and by_metric_rating != "biased_mf"  # so the pins change something
    assert (result.topn_champion, result.rating_champion) == ("popularity", "biased_mf")
    with duckdb.connect(str(settings.out), read_only=True) as con:
        info = dict(con.execute("SELECT key, value FROM build_info").fetchall())
        # popularity ranks every user's unseen movies in one global order: the most rated first
        top = con.execute("SELECT movie_id FROM user_recommendations WHERE rank = 1 GROUP BY movie_id "
                          "ORDER BY count(*) DESC LIMIT 1").fetchone()[0]
        most_rated = con.execute("SELECT movie_id FROM movies ORDER BY n_ratings DESC, movie_id LIMIT 1").fetchone()[0]
    assert (info["topn_champion"], info["rating_champion"]) == ("popularity", "biased_mf")
    assert top == most_rated
    tags = MlflowClient(settings.mlflow_uri).get_run(result.run_id).data.tags
    assert tags["topn_champion_by_metric"] == by_metric_topn
    assert tags["rating_champion_by_metric"] == by_metric_rating
    assert tags["champions_pinned"] == "topn,rating"


@pytest.mark.parametrize(("flags", "message"), [
    (["--topn-champion", "ease"], "--topn-champion ease: not among this build's models"),
    (["--rating-champion", "itemknn"], "--rating-champion itemknn: cannot ship it, it is not evaluated as a rating"),
    (["--topn-champion", "knn_baseline", "--models", "popularity,knn_baseline", "--scale", "large"],
     "the large scale plan skips its top-N"),
    (["--models", "popularity,nope"], "unknown model(s) ['nope']"),
])
def test_a_pin_the_build_cannot_honour_is_a_clear_error_before_training(small_dataset, tmp_path, capsys,
                                                                         flags, message) -> None:
    args = ["build", "--data", str(small_dataset), "--out", str(tmp_path / "x.duckdb"),
            "--mlflow-uri", f"sqlite:///{tmp_path / 'mlflow.db'}", "--quick"]
    if "--models" not in flags:
        args += ["--models", ",".join(MODELS)]
    assert main(args + flags) == 2
    err = capsys.readouterr().err
    last = err.splitlines()[-1]  # after the load's log lines when the plan decides it
    assert last.startswith("latentlens: error: ") and message in last and "Traceback" not in err
    assert not (tmp_path / "x.duckdb").exists() and not (tmp_path / "mlflow.db").exists()
