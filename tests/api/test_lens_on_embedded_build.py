"""On the real embedded build: the Lens answers 400 random requests exactly as the HTTP API, the build
ran through latentlens.run_build, and the registered champions load with latentlens.load_model and
reproduce the artifact's lists."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

import latentlens
from latentlens.build.pipeline import BuildResult
from latentlens.handler import schema
from latentlens.handler.app import create_app
from tests.api.same_answers import assert_same
from tests.handler.conftest import make_settings
from tests.handler.dynamo_support import copy_artifact, random_requests


@pytest.fixture(scope="module")
def real(embedded_build, tmp_path_factory):
    """A private copy of the embedded build's artifact (its own DuckDB configuration), the HTTP app and a Lens."""
    settings, result = embedded_build
    root = tmp_path_factory.mktemp("lens-real")
    db = copy_artifact(settings.out, root / "artifact")
    requests = random_requests(db, 400, seed=17)  # before anything else opens the copy
    app = create_app(make_settings(db, root))
    with TestClient(app, raise_server_exceptions=False) as client, \
            latentlens.open(db, tmp_dir=str(root / "lltmp")) as lens:
        yield client, lens, requests, settings, result
    app.state.store.close()


def test_four_hundred_random_requests_answer_alike(real) -> None:
    client, lens, requests, *_ = real
    statuses = {}
    for url, _conditional in requests:
        status = assert_same(client, lens, url)
        statuses[status] = statuses.get(status, 0) + 1
    assert {200, 404, 422} <= set(statuses), statuses  # found, unknown and invalid all compared


def test_the_shared_build_ran_through_run_build_and_the_lens_reports_it(real) -> None:
    _, lens, _, settings, result = real
    assert isinstance(result, BuildResult)
    info = lens.info()
    assert info.artifact_sha256 == result.artifact.sha256 == schema.sha256_file(settings.out)
    assert (info.build.mlflow_run_id, info.build.topn_champion) == (result.run_id, result.topn_champion)
    assert info.counts.users == 610 and info.counts.movies == 9742


def test_sql_agrees_with_the_lookups(real) -> None:
    _, lens, *_ = real
    frame = lens.sql(f"SELECT movie_id FROM {schema.USER_RECOMMENDATIONS} WHERE user_id = 1 ORDER BY rank LIMIT 10")
    assert frame["movie_id"].to_list() == [m.movie_id for m in lens.recommend(1, n=10).items]


@pytest.fixture(scope="module")
def topn(real):
    *_, settings, _ = real
    return latentlens.load_model("models:/latentlens-topn@champion", tracking_uri=settings.mlflow_uri)


def test_the_topn_champion_reproduces_what_the_lens_serves(real, topn) -> None:
    _, lens, *_ = real
    assert topn.kind == "topn"
    assert topn.tags["artifact_sha256"] == lens.info().artifact_sha256  # @champion is this build
    lists = topn.recommend([1, 2, 3], n=10)
    assert lists.columns == ["user_id", "rank", "movie_id", "score"]
    for user in (1, 2, 3):
        served = lens.recommend(user, n=10).items
        mine = lists.filter(user_id=user)
        assert mine["movie_id"].to_list() == [m.movie_id for m in served]
        assert mine["rank"].to_list() == list(range(1, 11))
        assert np.allclose(mine["score"].to_numpy(), [m.score for m in served], rtol=1e-5)
    one = topn.recommend(1, n=3)
    assert one["movie_id"].to_list() == lists.filter(user_id=1)["movie_id"].to_list()[:3]
    assert topn.recommend([], n=3).height == 0
    assert topn.recommend([999_999], n=4).height == 4  # unknown user: the model's cold-start list
    with pytest.raises(ValueError, match="positive integer"):
        topn.recommend([1], n=0)
    with pytest.raises(TypeError, match="top-N model"):
        topn.predict([(1, 858)])


def test_the_rating_champion_predicts_as_its_mlflow_pyfunc(real) -> None:
    *_, settings, result = real
    rating = latentlens.load_model("models:/latentlens-rating@champion", tracking_uri=settings.mlflow_uri)
    assert rating.kind == "rating" and rating.tags["model"] == result.rating_champion
    pairs = [(1, 858), (1, 1), (414, 2571), (999_999, 858)]
    stars = rating.predict(pairs)
    assert stars.shape == (4,) and ((0.5 <= stars) & (stars <= 5.0)).all()
    mlflow.set_tracking_uri(settings.mlflow_uri)
    direct = mlflow.pyfunc.load_model("models:/latentlens-rating@champion").predict(
        pd.DataFrame({"userId": [p[0] for p in pairs], "movieId": [p[1] for p in pairs]}))
    assert np.array_equal(stars, direct["rating"].to_numpy())
    assert rating.predict([]).shape == (0,)
    with pytest.raises(ValueError, match="pairs"):
        rating.predict([1, 2, 3])
    with pytest.raises(TypeError, match="rating model"):
        rating.recommend([1])


def test_a_version_number_loads_too_and_mistakes_are_clear(real, tmp_path) -> None:
    *_, settings, _ = real
    version = latentlens.load_model("models:/latentlens-topn@champion", tracking_uri=settings.mlflow_uri).version
    by_number = latentlens.load_model(f"models:/latentlens-topn/{version.version}", tracking_uri=settings.mlflow_uri)
    assert by_number.kind == "topn" and by_number.tags == dict(version.tags)
    logged = latentlens.load_model(version.source, tracking_uri=settings.mlflow_uri)  # models:/m-<id>
    assert logged.kind == "topn" and logged.version is None
    assert logged.recommend([1], n=5).equals(by_number.recommend([1], n=5))
    with pytest.raises(LookupError, match="latentlens-topn@nope"):
        latentlens.load_model("models:/latentlens-topn@nope", tracking_uri=settings.mlflow_uri)
    with pytest.raises(LookupError, match="no-such-model"):
        latentlens.load_model("models:/no-such-model@champion", tracking_uri=settings.mlflow_uri)
    absent = tmp_path / "mlflow.db"
    with pytest.raises(FileNotFoundError, match=str(absent)):
        latentlens.load_model("models:/latentlens-topn@champion", tracking_uri=f"sqlite:///{absent}")
    assert not absent.exists()  # MLflow was never asked to create a store there
