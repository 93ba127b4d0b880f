"""The MLflow registry tells the truth: a version is registered only when its artifact is published,
`@champion` follows the published artifact, and the top-N champion reproduces the artifact's lists.

Real builds (quick settings, the embedded data cut to 150 users) against one real sqlite store:
build 1 publishes, build 2 fails while publishing, build 3 publishes over build 1's artifact.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from latentlens.build.pipeline import BuildResult, run
from latentlens.build.settings import BuildSettings, EvaluationSettings
from latentlens.handler import schema

pytestmark = pytest.mark.build

RATING, TOPN = "latentlens-rating", "latentlens-topn"


@dataclass
class History:
    settings: BuildSettings
    first: BuildResult
    versions_after_first: dict[str, list[str]]
    failed_error: str
    sha_after_failure: str
    versions_after_failure: dict[str, list[str]]
    failed_run_status: str
    third: BuildResult


def versions(client: MlflowClient) -> dict[str, list[str]]:
    return {name: sorted(str(v.version) for v in client.search_model_versions(f"name = '{name}'"))
            for name in (RATING, TOPN)}


@pytest.fixture(scope="module")
def history(tmp_path_factory, small_dataset: Path) -> History:
    root = tmp_path_factory.mktemp("registry")
    uri = f"sqlite:///{root / 'mlflow.db'}"

    def settings(seed: int) -> BuildSettings:
        return BuildSettings(data_dir=small_dataset, out=root / "latentlens.duckdb", mlflow_uri=uri, quick=True,
                             models=("popularity", "itemknn", "content", "baseline"),
                             evaluation=EvaluationSettings(folds=2), seed=seed, top_n=20, similar_n=10)

    client = MlflowClient(uri)
    first = run(settings(1))
    after_first = versions(client)

    def disk_full(out, tables, **_):
        raise OSError(28, "No space left on device", str(out))

    with pytest.MonkeyPatch.context() as mp:  # the build fails at the moment it would publish
        mp.setattr("latentlens.build.stages.export.write_artifact", disk_full)
        with pytest.raises(OSError) as failed:
            run(settings(2))
    experiment = client.get_experiment_by_name("latentlens")
    latest = client.search_runs([experiment.experiment_id], filter_string="tags.latentlens.pid != ''",
                                order_by=["attributes.start_time DESC"], max_results=1)[0]
    sha_after_failure = schema.sha256_file(first.artifact.path)
    after_failure = versions(client)
    third = run(settings(3))
    return History(settings(3), first, after_first, str(failed.value), sha_after_failure, after_failure,
                   latest.info.status, third)


def champion(name: str, uri: str):
    return MlflowClient(uri).get_model_version_by_alias(name, "champion")


def test_a_published_build_registers_both_champions_with_the_artifact_sha(history) -> None:
    assert history.versions_after_first == {RATING: ["1"], TOPN: ["1"]}
    assert history.first.registered_model == f"{RATING} v1, {TOPN} v1 (@champion)"


def test_a_build_that_fails_before_publishing_registers_nothing(history) -> None:
    assert "No space left" in history.failed_error
    assert history.versions_after_failure == history.versions_after_first
    assert history.sha_after_failure == history.first.artifact.sha256  # the published artifact is untouched
    assert history.failed_run_status == "FAILED"


def test_champion_alias_follows_the_published_artifact(history) -> None:
    uri, out = history.settings.mlflow_uri, history.settings.out
    on_disk = schema.sha256_file(out)
    assert on_disk == history.third.artifact.sha256 != history.first.artifact.sha256
    con = duckdb.connect(str(out), read_only=True)
    try:
        run_id = con.execute(f"SELECT value FROM {schema.BUILD_INFO} WHERE key = 'mlflow_run_id'").fetchone()[0]
    finally:
        con.close()
    client = MlflowClient(uri)
    for name in (RATING, TOPN):
        current = champion(name, uri)
        assert str(current.version) == "2"
        assert current.tags["artifact_sha256"] == on_disk
        assert current.run_id == run_id == history.third.run_id
        assert on_disk in current.description and "trained on ml-small-150" in current.description
        older = client.get_model_version(name, "1")
        assert older.tags["artifact_sha256"] == history.first.artifact.sha256 and not older.aliases


def test_registered_champions_load_by_alias_and_the_topn_one_reproduces_the_artifact(history) -> None:
    uri, out = history.settings.mlflow_uri, history.settings.out
    mlflow.set_tracking_uri(uri)
    con = duckdb.connect(str(out), read_only=True)
    try:
        users = [r[0] for r in con.execute(
            f"SELECT DISTINCT user_id FROM {schema.USER_RECOMMENDATIONS} ORDER BY user_id LIMIT 3").fetchall()]
        stored = con.execute(f"SELECT user_id, rank, movie_id, score FROM {schema.USER_RECOMMENDATIONS} "
                             "WHERE user_id IN (?, ?, ?) ORDER BY user_id, rank", users).fetchall()
    finally:
        con.close()
    topn = mlflow.pyfunc.load_model(f"models:/{TOPN}@champion")
    assert topn.metadata.get_input_schema().input_names() == ["userId"]
    lists = topn.predict(pd.DataFrame({"userId": users}))
    assert [tuple(r) for r in lists[["userId", "rank", "movieId"]].itertuples(index=False)] == \
        [(u, r, m) for u, r, m, _ in stored]
    assert np.allclose(lists["score"].to_numpy(), [s for *_, s in stored], rtol=1e-5)
    five = topn.predict(pd.DataFrame({"userId": [users[0], 999_999]}), params={"n": 5})
    assert five.groupby("userId").size().to_dict() == {users[0]: 5, 999_999: 5}  # unknown: cold-start list

    rating = mlflow.pyfunc.load_model(f"models:/{RATING}@champion")
    values = np.asarray(rating.predict(pd.DataFrame({"userId": [users[0]], "movieId": [1]}))["rating"])
    assert values.shape == (1,) and 0.5 <= values[0] <= 5.0


def test_experiment_opens_as_classic_ml_in_the_mlflow_ui(history) -> None:
    experiment = MlflowClient(history.settings.mlflow_uri).get_experiment_by_name("latentlens")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
