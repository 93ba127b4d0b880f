"""The Spark engine's models: popularity, ALS explicit and implicit, and their top-k steps.

Scoring and ranking stay apart: a model gives candidates (user, movie, score) for a set of
users and a fetch size; `top_unseen` removes what each user has seen and re-ranks. Spark's
recommendForUserSubset never removes seen items, so each user is fetched n + (a power of four
at least their seen count) candidates: enough to leave n unseen, whatever they rated, while
the total fetched stays under n x users + 4 x ratings, in a handful of Spark jobs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
from pydantic import Field

from latentlens.build.models.base import ModelConfig
from latentlens.build.progress import get_logger

if TYPE_CHECKING:
    from pyspark.ml.recommendation import ALSModel
    from pyspark.sql import DataFrame

log = get_logger(__name__)

# Below this many fetched rows one recommendForUserSubset call serves every user (fewer Spark jobs).
SINGLE_FETCH_ROWS = 5_000_000
Candidates = Callable[["DataFrame", int], "DataFrame"]  # (users, fetch size) -> (user_id, movie_id, score)


class AlsConfig(ModelConfig):
    """One ALS setting; `model_dump()` is what MLflow logs."""

    implicit: bool = False
    rank: int = Field(32, ge=1)
    reg: float = Field(0.1, gt=0)
    alpha: float = Field(1.0, gt=0)   # implicit only: confidence = 1 + alpha * rating
    max_iter: int = Field(10, ge=1)
    seed: int = 42


class Grid(NamedTuple):
    ranks: tuple[int, ...]
    regs: tuple[float, ...]
    alphas: tuple[float, ...]   # implicit only; explicit ALS ignores alpha
    iterations: int


# Keyed by (implicit, quick). Spark already scales reg by each user's and movie's rating count,
# so implicit ALS needs no stronger reg than explicit: a validation sweep put its best at
# 0.03-0.1 on ml-latest-small and the synthetic 5M, where 10x that left it near popularity
# (docs/spark.md, "ALS implicit").
GRIDS: dict[tuple[bool, bool], Grid] = {
    (False, True): Grid(ranks=(8, 16), regs=(0.1,), alphas=(1.0,), iterations=5),
    (False, False): Grid(ranks=(16, 48), regs=(0.05, 0.15), alphas=(1.0,), iterations=10),
    (True, True): Grid(ranks=(16, 32), regs=(0.1,), alphas=(1.0,), iterations=5),
    (True, False): Grid(ranks=(16, 48), regs=(0.03, 0.1), alphas=(1.0, 3.0), iterations=10),
}


def grid(implicit: bool, quick: bool, seed: int) -> list[AlsConfig]:
    """The small tuned grid: rank x regularisation (x alpha for implicit)."""
    g = GRIDS[(implicit, quick)]
    return [AlsConfig(implicit=implicit, rank=r, reg=reg, alpha=a, max_iter=g.iterations, seed=seed)
            for r in g.ranks for reg in g.regs for a in g.alphas]


def fit_als(train: DataFrame, config: AlsConfig, checkpoint: bool = False) -> ALSModel:
    from pyspark.ml.recommendation import ALS

    als = ALS(userCol="user_id", itemCol="movie_id", ratingCol="rating", rank=config.rank, regParam=config.reg,
              maxIter=config.max_iter, implicitPrefs=config.implicit, alpha=config.alpha, seed=config.seed,
              coldStartStrategy="nan", nonnegative=False,
              numUserBlocks=_blocks(train), numItemBlocks=_blocks(train),
              checkpointInterval=10 if checkpoint else -1)
    return als.fit(train.select("user_id", "movie_id", "rating"))


def _blocks(frame: DataFrame) -> int:
    partitions = frame.sparkSession.conf.get("spark.sql.shuffle.partitions")
    assert partitions is not None  # Spark defines it (200 unless set)
    return max(1, int(partitions))


def predict_ratings(model: ALSModel, test: DataFrame, train_mean: float, scale: tuple[float, float]) -> DataFrame:
    """Predictions clipped to the scale; users or movies unseen in training get the training mean."""
    from pyspark.sql import functions as F

    pred = model.transform(test.select("user_id", "movie_id", "rating"))
    value = (F.when(F.isnan("prediction") | F.col("prediction").isNull(), F.lit(train_mean))
             .otherwise(F.col("prediction")))
    return pred.withColumn("prediction", F.least(F.greatest(value, F.lit(scale[0])), F.lit(scale[1])))


def als_candidates(model: ALSModel) -> Candidates:
    """recommendForUserSubset (Spark's blocked all-users top-k) flattened to rows."""
    from pyspark.sql import functions as F

    def fetch(users: DataFrame, size: int) -> DataFrame:
        recs = model.recommendForUserSubset(users.select("user_id"), size)
        return recs.select("user_id", F.explode("recommendations").alias("r")).select(
            "user_id", F.col("r.movie_id").alias("movie_id"), F.col("r.rating").cast("double").alias("score"))

    return fetch


def popularity_scores(train: DataFrame) -> DataFrame:
    """(movie_id, score) by number of ratings: the "count" popularity model."""
    from pyspark.sql import functions as F

    return train.groupBy("movie_id").agg(F.count("*").cast("double").alias("score"))


def popularity_candidates(scores: DataFrame) -> Candidates:
    from pyspark.sql import functions as F

    def fetch(users: DataFrame, size: int) -> DataFrame:
        head = scores.orderBy(F.desc("score"), "movie_id").limit(size).select("movie_id", "score")
        return users.select("user_id").crossJoin(F.broadcast(head))

    return fetch


def weighted_scores(ratings: DataFrame, min_votes_quantile: float = 0.9) -> DataFrame:
    """IMDB's weighted rating v/(v+m)*R + m/(v+m)*C per rated movie (build/models/popularity.py)."""
    from pyspark.sql import functions as F

    stats = ratings.groupBy("movie_id").agg(F.count("*").cast("double").alias("v"),
                                            F.sum(F.col("rating").cast("double")).alias("s"))
    m = _exact_quantile(stats.select("v"), min_votes_quantile)
    c_row = stats.agg(F.sum("s"), F.sum("v")).collect()[0]
    c = float(c_row[0] / c_row[1])
    mean = F.col("s") / F.col("v")
    score = (F.col("v") * mean + F.lit(m * c)) / F.greatest(F.col("v") + F.lit(m), F.lit(1e-12))
    return stats.select("movie_id", score.cast("float").cast("double").alias("score"), "v")


def _exact_quantile(values: DataFrame, q: float) -> float:
    """numpy's default (linear) quantile of a single-column frame: the in-process m, exactly."""
    from pyspark.sql import functions as F

    return float(values.agg(F.percentile(F.col(values.columns[0]), F.lit(q))).collect()[0][0])


def top_unseen(candidates: Candidates, users: DataFrame, seen: DataFrame, n: int, n_items: int) -> DataFrame:
    """(user_id, rank 1..n, movie_id, score) without the user's `seen` (user_id, movie_id) pairs.

    Users are fetched in buckets by seen count (n + 4^b >= n + seen), so every user gets n
    unseen candidates when the model can score that many; ties rank by movie id.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    n_seen = seen.groupBy("user_id").agg(F.count("*").alias("n_seen"))
    users = users.select("user_id").distinct().join(n_seen, "user_id", "left").fillna(0, subset=["n_seen"])
    stats = users.agg(F.count("*"), F.max("n_seen")).collect()[0]
    if stats[0] * min(n + (stats[1] or 0), n_items) <= SINGLE_FETCH_ROWS:
        bucket = F.lit(-1)  # small enough: one fetch of n + the most any user has seen
    else:
        bucket = F.when(F.col("n_seen") <= 64, 3).otherwise(F.ceil(F.log(4.0, "n_seen")))
    users = users.withColumn("bucket", bucket).persist()
    buckets = sorted(int(r["bucket"]) for r in users.select("bucket").distinct().collect())
    parts = []
    for b in buckets:
        size = min(n + ((stats[1] or 0) if b < 0 else 4 ** b), n_items)
        group = users.where(F.col("bucket") == b).select("user_id")
        parts.append(candidates(group, size))
    if not parts:
        return users.sparkSession.createDataFrame([], "user_id int, rank int, movie_id int, score double")
    pool = parts[0]
    for p in parts[1:]:
        pool = pool.unionByName(p)
    kept = pool.join(seen.select("user_id", "movie_id"), ["user_id", "movie_id"], "left_anti")
    order = Window.partitionBy("user_id").orderBy(F.desc("score"), "movie_id")
    return (kept.withColumn("rank", F.row_number().over(order)).where(F.col("rank") <= n)
            .select("user_id", F.col("rank").cast("int"), F.col("movie_id").cast("int"), "score"))


def similar_items(item_factors: DataFrame, n: int, block: int) -> DataFrame:
    """(movie_id, rank, similar_movie_id, score): cosine top-n of item factors by a blocked self-join.

    Items are cut into blocks of `block`; each pair of blocks is one dense product (numpy in an
    executor) with a per-row top-n; a window keeps the best n over all blocks. Never the item itself.
    """
    import pyarrow as pa
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    blocks = (item_factors.select(F.col("id").cast("int").alias("movie_id"), "features")
              .withColumn("b", F.floor(F.col("movie_id") % F.lit(max(1, _n_blocks(item_factors, block))))))
    grouped = blocks.groupBy("b").agg(F.collect_list("movie_id").alias("ids"), F.collect_list("features").alias("vecs"))
    left = grouped.select(F.col("b").alias("lb"), F.col("ids").alias("lids"), F.col("vecs").alias("lvecs"))
    right = grouped.select(F.col("b").alias("rb"), F.col("ids").alias("rids"), F.col("vecs").alias("rvecs"))
    pairs = left.crossJoin(right)

    def top_per_pair(batches):
        for batch in batches:
            for row in batch.to_pylist():
                li, ri = np.asarray(row["lids"], dtype=np.int64), np.asarray(row["rids"], dtype=np.int64)
                lv = _unit(np.asarray(row["lvecs"], dtype=np.float64))
                rv = _unit(np.asarray(row["rvecs"], dtype=np.float64))
                sims = lv @ rv.T
                sims[li[:, None] == ri[None, :]] = -np.inf
                k = min(n, sims.shape[1])
                top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
                score = np.take_along_axis(sims, top, axis=1)
                keep = np.isfinite(score)
                rows = np.repeat(li, k).reshape(-1, k)
                yield pa.RecordBatch.from_pydict({"movie_id": rows[keep].astype(np.int32),
                                                  "similar_movie_id": ri[top][keep].astype(np.int32),
                                                  "score": score[keep]})

    scored = pairs.mapInArrow(top_per_pair, "movie_id int, similar_movie_id int, score double")
    order = Window.partitionBy("movie_id").orderBy(F.desc("score"), "similar_movie_id")
    return (scored.withColumn("rank", F.row_number().over(order)).where(F.col("rank") <= n)
            .select("movie_id", F.col("rank").cast("int"), "similar_movie_id", "score"))


def _n_blocks(item_factors: DataFrame, block: int) -> int:
    return max(1, math.ceil(item_factors.count() / block))


def _unit(m: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    return m / np.where(norms > 0, norms, 1.0)


@dataclass
class Tuned:
    """The grid's outcome: each config with its validation score, and the best."""

    best: AlsConfig
    scores: list[tuple[AlsConfig, float]] = field(default_factory=list)
