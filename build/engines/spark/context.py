"""What every Spark model implementation evaluates on: the protocol's splits and the build's settings.

The splits follow build/evaluate/protocol.py's rules (build/engines/spark/split.py, checked by
tests/engines/spark/test_equivalence.py); the metrics are the in-process functions
(build/engines/spark/evaluate.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from latentlens.build.engines.spark import evaluate as spark_eval
from latentlens.build.engines.spark import models
from latentlens.build.engines.spark.split import rating_holdout, temporal_holdout, topn_users
from latentlens.build.settings import BuildSettings, EvaluationSettings
from latentlens.build.stages.evaluate import RATING_HOLDOUT_PROTOCOL

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

# The small plan scores RMSE on the top-N holdout's test set (in-process: k-fold CV, which Spark
# skips: k ALS fits for ~100k ratings); the large plan on the in-process rating holdout.
RATING_PROTOCOL = "rating_temporal_holdout"


@dataclass(frozen=True)
class Splits:
    """Both protocols' data (build/evaluate/protocol.py's rules, build/engines/spark/split.py)."""

    train: DataFrame          # top-N training: every user's ratings but the held-out ones
    test: DataFrame           # top-N held-out ratings of the evaluated users
    rating_test: DataFrame    # the ratings RMSE is scored on
    rating_protocol: str
    sampled: dict[str, int]   # what was sampled, by name: logged to MLflow

    def frames(self) -> tuple[DataFrame, ...]:
        return self.train, self.test, self.rating_test

    def describe(self) -> str:
        users = self.sampled.get("topn_eval_users")
        text = f"top-N holdout of {f'{users:,} sampled users' if users else 'every user'}"
        if "rating_holdout_users" in self.sampled:
            text += (f"; rating holdout of {self.sampled['rating_holdout_ratings']:,} ratings of "
                     f"{self.sampled['rating_holdout_users']:,} other users")
        return text + f"; {self.sampled['train_ratings']:,} training ratings"


def splits(ratings: DataFrame, evaluation: EvaluationSettings, seed: int) -> Splits:
    """The in-process protocol: only sampled users hold out their latest ratings; with a rating
    holdout (large plan) it is drawn among the other users, from the top-N training split."""
    from pyspark import StorageLevel

    evaluated = topn_users(ratings, evaluation.max_eval_users, seed)
    train, test = temporal_holdout(ratings, evaluation.test_fraction, users=evaluated)
    sampled = {} if evaluated is None else {"topn_eval_users": evaluated.count()}
    rating_test, protocol = test, RATING_PROTOCOL
    if evaluation.rating_holdout_users is not None:
        holdout = rating_holdout(train, evaluation.rating_holdout_users, evaluation.rating_holdout_fraction, seed,
                                 exclude=evaluated)
        train, rating_test, protocol = holdout.train, holdout.test, RATING_HOLDOUT_PROTOCOL
        rating_test = rating_test.persist(StorageLevel.MEMORY_AND_DISK)
        sampled |= {"rating_holdout_users": holdout.n_users, "rating_holdout_ratings": rating_test.count()}
    train, test = train.persist(StorageLevel.MEMORY_AND_DISK), test.persist(StorageLevel.MEMORY_AND_DISK)
    sampled["train_ratings"] = train.count()
    sampled["topn_test_ratings"] = test.count()
    return Splits(train, test, rating_test, protocol, sampled)


@dataclass(frozen=True)
class EvalContext:
    split: Splits
    relevant: DataFrame
    n_items: int
    evaluation: EvaluationSettings
    settings: BuildSettings
    scale: tuple[float, float]
    scratch: Path

    @property
    def train(self) -> DataFrame:
        return self.split.train


def topn_metrics(candidates: models.Candidates, ctx: EvalContext, train: DataFrame, relevant: DataFrame) -> dict:
    """The top-N protocol's metrics of a model's candidates: top-k unseen per evaluated user, scored in-process."""
    k = ctx.evaluation.k
    recs = models.top_unseen(candidates, relevant.select("user_id"), train, k, ctx.n_items)
    return spark_eval.ranking_metrics(recs, relevant, train, ctx.n_items, k)
