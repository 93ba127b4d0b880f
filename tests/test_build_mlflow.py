"""The build's MLflow record: parent run, one nested run per model, artifacts, a registered model."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from latentlens.build.models import registry


@pytest.fixture(scope="module")
def client(embedded_build) -> MlflowClient:
    settings, _ = embedded_build
    mlflow.set_tracking_uri(settings.mlflow_uri)
    return MlflowClient(settings.mlflow_uri)


def test_parent_run_has_one_nested_run_per_model(client, embedded_build) -> None:
    settings, result = embedded_build
    parent = client.get_run(result.run_id)
    assert parent.info.run_name.startswith("ml-latest-small ")
    assert parent.data.tags["topn_champion"] == result.topn_champion
    assert parent.data.tags["git_commit"]
    children = client.search_runs([parent.info.experiment_id],
                                  filter_string=f"tags.mlflow.parentRunId = '{result.run_id}'")
    names = sorted(r.info.run_name for r in children)
    assert names == sorted(spec.name for spec in registry.select(None))  # the in-process ones this install runs
    # every other registered model is reported as skipped, with the reason, never silently absent
    skipped = {k.removeprefix("skipped."): v for k, v in parent.data.tags.items() if k.startswith("skipped.")}
    assert set(skipped) == set(registry.all_specs()) - set(names)
    assert all("no implementation on the inprocess engine" in reason or "not installed: pip install" in reason
               for reason in skipped.values())
    for child in children:
        assert child.data.params, child.info.run_name
        assert child.data.metrics, child.info.run_name
        assert all(np.isfinite(v) for v in child.data.metrics.values()), child.info.run_name
        assert [a.path for a in client.list_artifacts(child.info.run_id)] == ["evaluation.json"]


def test_parent_run_logs_dataset_plots_and_comparison(client, embedded_build) -> None:
    _, result = embedded_build
    paths = {a.path for a in client.list_artifacts(result.run_id, "plots")}
    assert {"plots/rating_distribution.png", "plots/long_tail.png", "plots/ndcg.png",
            "plots/rmse_per_fold.png"} <= paths
    comparison = {a.path for a in client.list_artifacts(result.run_id, "comparison")}
    assert {"comparison/comparison.csv", "comparison/comparison.md"} <= comparison
    run = client.get_run(result.run_id)
    digests = {d.dataset.digest for d in run.inputs.dataset_inputs}
    assert len(digests) == 1 and digests.pop()


def test_registered_rating_model_loads_and_predicts(client, embedded_build) -> None:
    settings, result = embedded_build
    versions = client.search_model_versions(f"name = '{settings.registered_model_name}'")
    assert versions, "rating model not registered"
    latest = max(versions, key=lambda v: int(v.version))
    champion = client.get_model_version_by_alias(settings.registered_model_name, "champion")
    assert champion.version == latest.version and champion.tags["artifact_sha256"] == result.artifact.sha256
    import json

    logged = client.get_logged_model(champion.source.removeprefix("models:/"))  # the model the version holds
    assert logged.source_run_id == champion.run_id
    assert {"name": champion.name, "version": int(champion.version)} in json.loads(  # the UI shows it registered
        logged.tags["mlflow.modelVersions"])
    model = mlflow.pyfunc.load_model(f"models:/{settings.registered_model_name}@champion")
    frame = pd.DataFrame({"userId": [1, 1, 999_999], "movieId": [1, 858, 1]})
    out = model.predict(frame)
    values = np.asarray(out["rating"] if isinstance(out, pd.DataFrame) else out, dtype=float)
    assert values.shape == (3,)
    assert np.all((values >= 0.5) & (values <= 5.0))
    assert model.metadata.get_input_schema().input_names() == ["userId", "movieId"]


class Echo(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return model_input


def test_mlflows_pickle_warning_is_said_once_per_build(tmp_path, monkeypatch) -> None:
    """MLflow warns about CloudPickle on every pyfunc logged from an object; a build logs several (a real store)."""
    import logging

    from latentlens.build.tracking import registry

    pyfunc_logger = logging.getLogger("mlflow.pyfunc")
    monkeypatch.setattr(pyfunc_logger, "filters", [])  # as in a fresh process
    seen: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    pyfunc_logger.addHandler(handler)
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        registry._pickle_warning_once()
        registry._pickle_warning_once()  # idempotent: one filter
        with mlflow.start_run(experiment_id=mlflow.create_experiment("say-once")):
            for name in ("first", "second", "third"):
                mlflow.pyfunc.log_model(name=name, python_model=Echo())
    finally:
        mlflow.set_tracking_uri(previous)
        pyfunc_logger.removeHandler(handler)
    assert sum("CloudPickle" in message for message in seen) == 1, seen
    assert sum(isinstance(f, registry.SayOnce) for f in pyfunc_logger.filters) == 1


def test_a_cv_models_rmse_is_the_mean_with_the_folds_as_its_steps(client, embedded_build) -> None:
    """One name per metric in every run: `rmse` shows the mean; its history holds the folds (steps 1..k)."""
    import json

    settings, result = embedded_build
    run = client.search_runs([client.get_run(result.run_id).info.experiment_id],
                             filter_string=f"tags.mlflow.parentRunId = '{result.run_id}' and "
                                           "tags.mlflow.runName = 'baseline'")[0]
    record = json.loads(open(client.download_artifacts(run.info.run_id, "evaluation.json")).read())
    folds = [f["rmse"] for f in record["rating_folds"]]
    assert len(folds) == settings.evaluation.folds >= 2
    history = sorted(client.get_metric_history(run.info.run_id, "rmse"), key=lambda m: m.step)
    assert [m.step for m in history] == list(range(1, len(folds) + 2))
    assert [m.value for m in history[:-1]] == pytest.approx(folds)
    assert run.data.metrics["rmse"] == pytest.approx(record["rating_mean"]["rmse"]) == pytest.approx(
        sum(folds) / len(folds))
    assert not any(name.startswith("cv_") for name in run.data.metrics)


def test_every_evaluated_model_keeps_a_loadable_model_with_its_signature(client, embedded_build) -> None:
    """The small plan logs every evaluated model (--log-models all): the surprise_svd run holds its model, tagged and
    with its n_factors param; a rating model takes (userId, movieId), a top-N one userId."""
    settings, result = embedded_build
    assert settings.models_logged("small") == "all" and settings.log_models is None
    experiment = client.get_run(result.run_id).info.experiment_id
    runs = {r.data.tags["mlflow.runName"]: r
            for r in client.search_runs([experiment], filter_string=f"tags.mlflow.parentRunId = '{result.run_id}'")}
    svd = runs["surprise_svd"]
    assert svd.data.tags["model"] == "surprise_svd" and "n_factors" in svd.data.params
    model = mlflow.pyfunc.load_model(svd.data.tags["model_uri"])
    assert model.metadata.get_input_schema().input_names() == ["userId", "movieId"]
    predicted = model.predict(pd.DataFrame({"userId": [1, 1], "movieId": [1, 858]}))
    values = np.asarray(predicted["rating"] if isinstance(predicted, pd.DataFrame) else predicted, dtype=float)
    assert values.shape == (2,) and np.all((values >= 0.5) & (values <= 5.0))
    ease = mlflow.pyfunc.load_model(runs["ease"].data.tags["model_uri"])
    assert ease.metadata.get_input_schema().input_names() == ["userId"]
    ranked = ease.predict(pd.DataFrame({"userId": [1]}))
    assert len(ranked) == settings.top_n and ranked["movieId"].is_unique
    logged = [name for name, run in runs.items() if "model_uri" in run.data.tags]
    evaluated = [name for name, run in runs.items() if "ndcg_at_10" in run.data.metrics]
    assert sorted(logged) == sorted(evaluated), (logged, evaluated)


def test_the_large_plan_logs_the_champions_only() -> None:
    from latentlens.build.settings import BuildSettings

    assert BuildSettings().models_logged("large") == "champions"
    assert BuildSettings(log_models="all").models_logged("large") == "all"
    assert BuildSettings(log_models="champions").models_logged("small") == "champions"
