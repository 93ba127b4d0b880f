"""Each build stage on its own, tracked by a NullTracker: no MLflow store is created, none is needed."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pytest

from latentlens.build import pipeline
from latentlens.build.engines.inprocess import InProcessEngine
from latentlens.build.models import registry
from latentlens.build.settings import BuildSettings, EvaluationSettings
from latentlens.build.stages.champions import Champions, choose_champions
from latentlens.build.stages.evaluate import (
    EVALUATION_RECORD_KEYS,
    ModelEvaluation,
    ranking_metric,
    record_comparison,
)
from latentlens.build.stages.export import artifact_tables, log_champion_models, publish
from latentlens.build.stages.retrain import Finals
from latentlens.build.tracking.tracker import NullTracker
from latentlens.cli import parser

pytestmark = pytest.mark.build

MODELS = ("popularity", "itemknn", "content", "baseline")


def small_settings(data: Path, root: Path) -> BuildSettings:
    return BuildSettings(data_dir=data, out=root / "latentlens.duckdb", mlflow_uri=f"sqlite:///{root / 'never.db'}",
                         quick=True, models=MODELS, evaluation=EvaluationSettings(folds=2), top_n=20, similar_n=10,
                         register_model=False)


@pytest.fixture(scope="module")
def staged(small_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    root = tmp_path_factory.mktemp("stages")
    settings = small_settings(small_dataset, root)
    tracker = NullTracker()
    engine = InProcessEngine()
    with engine.open(settings, engine.selection(settings)) as run, tracker.build_run("stages"):
        prepared = run.prepared
        pipeline.record_context(run, settings, tracker, "abc123")
        comparison = pipeline.evaluate(run, prepared.specs, settings, tracker)
        champions = choose_champions(comparison.evaluations, settings)
        record_comparison(comparison, settings.evaluation.k, tracker)
        finals = run.retrain(comparison, champions, tracker)
        logged = log_champion_models(prepared, comparison, finals, tracker)
        info = pipeline.build_info(run, settings, champions, tracker.run_id, "abc123")
        published = publish(prepared, artifact_tables(prepared, comparison, finals, info, tracker), logged, tracker)
    return SimpleNamespace(root=root, settings=settings, tracker=tracker, prepared=prepared, comparison=comparison,
                           champions=champions, finals=finals, logged=logged, info=info, published=published)


def test_prepare_reads_the_data_and_splits_it_for_the_evaluation(staged) -> None:
    p = staged.prepared
    assert p.full.n_users == 150
    assert [s.name for s in p.specs] == list(MODELS)
    assert p.split.train.n_ratings + p.split.test.n_ratings == p.full.n_ratings  # the temporal holdout
    assert p.topn_skip is None
    assert staged.tracker.tags["dataset"] == p.data.name
    assert staged.tracker.params["folds"] == 2


def test_evaluate_runs_every_model_and_tracks_each_in_its_own_run(staged) -> None:
    tracker, table = staged.tracker, staged.comparison.table
    assert tracker.model_runs == list(MODELS)
    assert table["model"].to_list() == list(MODELS)
    ndcg = dict(zip(table["model"], table["ndcg_at_10"], strict=True))
    for name in MODELS:
        assert tracker.metrics[f"{name}/ndcg_at_10"] == pytest.approx(ndcg[name])
        assert tracker.dicts[f"{name}/evaluation.json"]["model"] == name
        assert tuple(tracker.dicts[f"{name}/evaluation.json"]) == EVALUATION_RECORD_KEYS  # as on Spark
    rmse = dict(zip(table["model"], table["rmse"], strict=True))
    assert rmse["baseline"] is not None and rmse["popularity"] is None  # only rating models run the CV
    assert tracker.comparison is table


def test_champions_are_the_metric_best_unless_the_settings_pin_one(staged) -> None:
    table = staged.comparison.table
    best = table.sort("ndcg_at_10", descending=True)["model"][0]
    assert staged.champions == Champions(best, "baseline", best, "baseline", ())
    assert staged.champions.tags()["topn_champion"] == best and staged.champions.tags()["champions_pinned"] == ""
    pinned = choose_champions(staged.comparison.evaluations, replace(staged.settings, topn_champion="popularity"))
    assert (pinned.topn, pinned.topn_by_metric, pinned.pinned) == ("popularity", best, ("topn",))


def test_the_top_n_champion_is_chosen_at_the_protocol_cut_off(staged) -> None:
    evaluations = [ModelEvaluation("a", {}, topn={"ndcg_at_5": 0.2, "ndcg_at_10": 0.1}),
                   ModelEvaluation("b", {}, topn={"ndcg_at_5": 0.1, "ndcg_at_10": 0.3})]

    def at(k: int) -> str | None:
        return choose_champions(evaluations, replace(staged.settings, evaluation=EvaluationSettings(k=k))).topn

    assert (at(5), at(10), ranking_metric(5)) == ("a", "b", "ndcg_at_5")


def test_retrain_fits_every_export_role_and_the_champions(staged) -> None:
    finals = staged.finals
    assert set(finals.models) == {*registry.export_models(), staged.champions.topn, "baseline"}
    assert finals.by_role(registry.SIMILAR_MOVIES).name == "itemknn"
    assert finals.by_role(registry.CONTENT_FALLBACK).name == "content"
    assert finals.topn.name == staged.champions.topn
    assert finals.rating.name == "baseline"
    no_topn = Finals(finals.models, replace(staged.champions, topn=None))
    assert no_topn.topn.name == registry.for_role(registry.TOPN_FALLBACK).name == "popularity"


def test_export_publishes_the_artifact_with_its_build_info_and_no_tracking_store(staged) -> None:
    report = staged.published.artifact
    assert report.path.exists() and staged.published.registered is None and staged.logged == []
    with duckdb.connect(str(report.path), read_only=True) as con:
        stored = dict(con.execute("SELECT key, value FROM build_info").fetchall())
        champion_rows = con.execute("SELECT count(*) FROM user_recommendations").fetchone()[0]
    assert stored == staged.info.row()
    assert stored["git_commit"] == "abc123" and "engine" not in stored
    assert champion_rows == staged.prepared.full.n_users * staged.settings.top_n
    assert not (staged.root / "never.db").exists()
    assert 0 <= staged.tracker.metrics["because_explained_share"] <= 1
    assert 0 <= staged.tracker.metrics["because_recent_share"] <= staged.tracker.metrics["because_explained_share"]


def test_every_export_role_is_filled_by_exactly_one_registered_model() -> None:
    assert {registry.for_role(role).name for role in registry.ROLES} == set(registry.export_models())
    assert registry.export_models() == ("popularity", "itemknn", "content", "transitions")
    assert registry.for_role(registry.NEXT_MOVIES).name == "transitions"


def test_models_help_lists_every_registered_model() -> None:
    build = parser()._subparsers._group_actions[0].choices["build"]
    text = " ".join(build.format_help().split())
    assert registry.models_help() in text
    assert all(name in registry.models_help() for name in registry.all_specs())


def test_a_build_with_a_null_tracker_never_imports_mlflow(small_dataset: Path, tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from latentlens.build.pipeline import run\n"
        "from latentlens.build.settings import BuildSettings, EvaluationSettings\n"
        "from latentlens.build.tracking.tracker import NullTracker\n"
        f"s = BuildSettings(data_dir=Path({str(small_dataset)!r}), out=Path({str(tmp_path / 'a.duckdb')!r}), "
        f"mlflow_uri='sqlite:///{tmp_path / 'never.db'}', quick=True, models=('popularity', 'itemknn', 'content'), "
        "evaluation=EvaluationSettings(folds=2), top_n=5, similar_n=5)\n"
        "result = run(s, tracker=NullTracker())\n"
        "print(result.topn_champion, 'mlflow' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-1] == "False"
    assert (tmp_path / "a.duckdb").exists() and not (tmp_path / "never.db").exists()
