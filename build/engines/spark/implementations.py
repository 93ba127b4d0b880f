"""The models' Spark implementations: what the models' specs (build/models/popularity.py, spark_als.py) name for the
"spark" engine. Each evaluates itself on the shared protocol (context.EvalContext), refits on all
ratings with what it chose, and gives candidates for the top-N lists; the pipeline never asks a
model's name. `roles` says what the Spark export takes it for (registry.Role).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, ClassVar, Protocol

from latentlens.build.engines.spark import evaluate as spark_eval
from latentlens.build.engines.spark import models
from latentlens.build.engines.spark.context import EvalContext, topn_metrics
from latentlens.build.engines.spark.split import temporal_holdout, topn_users
from latentlens.build.models.registry import SIMILAR_MOVIES, TOPN_FALLBACK, Role
from latentlens.build.progress import get_logger
from latentlens.build.stages.evaluate import ModelEvaluation

if TYPE_CHECKING:
    from pyspark.ml.recommendation import ALSModel
    from pyspark.sql import DataFrame

log = get_logger(__name__)


class SparkImplementation(Protocol):
    roles: frozenset[Role]

    def evaluate(self, name: str, ctx: EvalContext) -> tuple[ModelEvaluation, models.AlsConfig | None]:
        """Both protocols the spec asks for; the config chosen on validation (None: nothing to refit)."""

    def refit(self, ratings: DataFrame, tuned: models.AlsConfig) -> ALSModel:
        """The final model on all ratings with the chosen config."""

    def candidates(self, ratings: DataFrame, final: ALSModel | None) -> models.Candidates:
        """Scored candidates for the exported lists (the final fit, or the ratings for a model without one)."""

    def item_factors(self, final: ALSModel) -> DataFrame:
        """(id, features) of every movie: similar movies and because reasons (the SIMILAR_MOVIES role)."""


class Popularity:
    """Count per movie; no fit to refit."""

    roles: ClassVar[frozenset[Role]] = frozenset({TOPN_FALLBACK})

    def evaluate(self, name: str, ctx: EvalContext) -> tuple[ModelEvaluation, models.AlsConfig | None]:
        t0 = time.perf_counter()
        scores = models.popularity_scores(ctx.train).persist()
        topn = topn_metrics(models.popularity_candidates(scores), ctx, ctx.train, ctx.relevant)
        scores.unpersist()
        ev = ModelEvaluation(name, {"score": "count"}, topn=topn, fit_seconds=time.perf_counter() - t0)
        ev.topn["fit_seconds"] = ev.fit_seconds
        return ev, None

    def refit(self, ratings: DataFrame, tuned: models.AlsConfig) -> ALSModel:
        raise TypeError("popularity has no fit to refit")

    def candidates(self, ratings: DataFrame, final: ALSModel | None) -> models.Candidates:
        return models.popularity_candidates(models.popularity_scores(ratings))

    def item_factors(self, final: ALSModel) -> DataFrame:
        raise TypeError("popularity has no item factors")


class ALS:
    """pyspark.ml ALS, explicit (a rating model) or implicit (top-N), tuned on a validation split."""

    def __init__(self, implicit: bool) -> None:
        self.implicit = implicit
        self.roles: frozenset[Role] = frozenset({SIMILAR_MOVIES}) if implicit else frozenset()

    def evaluate(self, name: str, ctx: EvalContext) -> tuple[ModelEvaluation, models.AlsConfig | None]:
        from pyspark.sql import functions as F

        train_mean = float(ctx.train.agg(F.avg("rating")).collect()[0][0])
        scored = self._validate(name, ctx, train_mean)
        best = (max if self.implicit else min)(scored, key=lambda cv: cv[1])[0]
        t0 = time.perf_counter()
        model = models.fit_als(ctx.train, best)
        fit_seconds = time.perf_counter() - t0
        topn = topn_metrics(models.als_candidates(model), ctx, ctx.train, ctx.relevant)
        topn["fit_seconds"] = fit_seconds
        rating = []
        if not self.implicit:
            predictions = models.predict_ratings(model, ctx.split.rating_test, train_mean, ctx.scale)
            rating = [{**spark_eval.rating_metrics(predictions), "fit_seconds": fit_seconds}]
        grid_log = [{**c.model_dump(), "validation": v} for c, v in scored]
        ev = ModelEvaluation(name, best.model_dump(), topn=topn, rating_folds=rating, fit_seconds=fit_seconds,
                             extra={"grid": grid_log, "validation_metric": "ndcg_at_10" if self.implicit else "rmse"},
                             rating_protocol=ctx.split.rating_protocol)
        return ev, best

    def _validate(self, name: str, ctx: EvalContext, train_mean: float) -> list[tuple[models.AlsConfig, float]]:
        """Each grid config scored on the same temporal rule applied to the training ratings."""
        vusers = topn_users(ctx.train, ctx.evaluation.max_eval_users, ctx.settings.seed + 1)
        vtrain, vtest = temporal_holdout(ctx.train, ctx.evaluation.test_fraction, users=vusers)
        vtrain, vtest = vtrain.persist(), vtest.persist()
        vrelevant = spark_eval.relevant(vtest, ctx.evaluation.relevance_threshold)
        scored = []
        for config in models.grid(self.implicit, ctx.settings.quick, ctx.settings.seed):
            fitted = models.fit_als(vtrain, config)
            if self.implicit:
                metrics = topn_metrics(models.als_candidates(fitted), ctx, vtrain, vrelevant)
                value = metrics[f"ndcg_at_{ctx.evaluation.k}"]
            else:
                value = spark_eval.rating_metrics(models.predict_ratings(fitted, vtest, train_mean, ctx.scale))["rmse"]
            log.info("%s %s: validation %s %.4f", name, config.model_dump(), "ndcg@10" if self.implicit else "rmse",
                     value)
            scored.append((config, value))
        vtrain.unpersist()
        vtest.unpersist()
        return scored

    def refit(self, ratings: DataFrame, tuned: models.AlsConfig) -> ALSModel:
        return models.fit_als(ratings, tuned, checkpoint=False)

    def candidates(self, ratings: DataFrame, final: ALSModel | None) -> models.Candidates:
        assert final is not None, "ALS lists come from its final fit"
        return models.als_candidates(final)

    def item_factors(self, final: ALSModel) -> DataFrame:
        return final.itemFactors


POPULARITY = Popularity()
ALS_EXPLICIT = ALS(implicit=False)
ALS_IMPLICIT = ALS(implicit=True)
