"""Adding a model is its module plus its test: this one file defines a toy model (most liked: the number of
ratings at or above 4 per movie), its in-process implementation, its Spark implementation and its registry
entry, and runs it through both engines on the same data. No other file names it."""

from __future__ import annotations

import time
from typing import ClassVar, Self

import numpy as np
import pytest
from pydantic import Field

from latentlens.build.engines.spark import models as spark_models
from latentlens.build.engines.spark.context import EvalContext, topn_metrics
from latentlens.build.interactions import Histories, Interactions
from latentlens.build.models import registry
from latentlens.build.models.base import FitContext, ModelConfig, Recommender
from latentlens.build.stages.evaluate import EVALUATION_RECORD_KEYS, ModelEvaluation

pytestmark = pytest.mark.slow


class LikedConfig(ModelConfig):
    min_rating: float = Field(4.0, ge=0.5, le=5.0)


class Liked(Recommender[LikedConfig]):
    """In-process: every user gets the movies with the most ratings >= min_rating."""

    name: ClassVar[str] = "liked"

    def __init__(self, config: LikedConfig | None = None) -> None:
        self.config = config or LikedConfig()

    def fit(self, data: Interactions, ctx: FitContext) -> Self:
        liked = data.rating >= self.config.min_rating
        self.scores_ = np.bincount(data.item_idx[liked], minlength=data.n_items).astype(np.float32)
        self._remember_popularity(data)
        return self

    def score_users(self, users: np.ndarray, histories: Histories) -> np.ndarray:
        return np.broadcast_to(self.scores_, (np.asarray(users).shape[0], self.scores_.shape[0])).copy()


class LikedOnSpark:
    """On Spark: the same count by a group-by; nothing to refit."""

    roles: ClassVar[frozenset] = frozenset()

    def _scores(self, ratings):
        from pyspark.sql import functions as F

        return (ratings.where(F.col("rating") >= LikedConfig().min_rating).groupBy("movie_id")
                .agg(F.count("*").cast("double").alias("score")))

    def evaluate(self, name: str, ctx: EvalContext):
        started = time.perf_counter()
        topn = topn_metrics(spark_models.popularity_candidates(self._scores(ctx.train)), ctx, ctx.train, ctx.relevant)
        return ModelEvaluation(name, LikedConfig().model_dump(), topn=topn,
                               fit_seconds=time.perf_counter() - started), None

    def refit(self, ratings, tuned):
        raise TypeError("liked has no fit to refit")

    def candidates(self, ratings, final):
        return spark_models.popularity_candidates(self._scores(ratings))

    def item_factors(self, final):
        raise TypeError("liked has no item factors")


LIKED_ON_SPARK = LikedOnSpark()
SPEC = registry.ModelSpec("liked", lambda inputs: Liked(), description="most ratings >= 4 (a test's toy model)",
                          implementations={"spark": f"{__name__}:LIKED_ON_SPARK"})


@pytest.fixture()
def liked_registered():
    registry.register(SPEC)
    yield SPEC
    registry.unregister(SPEC.name)


def test_a_model_added_in_one_file_runs_on_both_engines(spark, tmp_path, liked_registered) -> None:
    from latentlens.build.engines.spark.engine import SparkEngine
    from latentlens.build.export.artifact import verify_artifact
    from latentlens.build.pipeline import run
    from latentlens.build.settings import BuildSettings, EvaluationSettings
    from latentlens.build.tracking.tracker import NullTracker
    from tests.engines.spark.conftest import TEST_SPARK
    from tests.reliability.build_runner import write_tiny_dataset

    data = write_tiny_dataset(tmp_path / "ml-tiny")
    assert liked_registered.engines == ("inprocess", "spark") and "liked" in registry.models_help()
    records, ndcg = {}, {}
    for engine in ("inprocess", "spark"):
        settings = BuildSettings(data_dir=data, out=tmp_path / engine / "latentlens.duckdb", models=("liked",),
                                 mlflow_uri=f"sqlite:///{tmp_path / engine / 'mlflow.db'}", quick=True,
                                 evaluation=EvaluationSettings(folds=2))
        tracker = NullTracker()
        result = (run(settings, tracker=tracker) if engine == "inprocess"
                  else run(settings, SparkEngine(TEST_SPARK, spark), tracker=tracker))
        assert "liked" in tracker.model_runs and result.topn_champion is not None
        records[engine] = tracker.dicts["liked/evaluation.json"]
        ndcg[engine] = tracker.metrics["liked/ndcg_at_10"]
        verify_artifact(settings.out)
    assert tuple(records["inprocess"]) == tuple(records["spark"]) == EVALUATION_RECORD_KEYS
    assert records["spark"]["engine"] == "spark" and records["inprocess"]["engine"] == "inprocess"
    # the same split and the same metric functions on both engines: the same score for the same model
    assert ndcg["spark"] == pytest.approx(ndcg["inprocess"], abs=1e-9), ndcg
