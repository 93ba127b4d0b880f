"""The in-process protocol's splits on Spark (build/evaluate/protocol.py), by window functions.

Top-N: a user with n >= 2 ratings gives round(f * n) of their latest ratings to test (at least
1, at most n - 1); ties in time are ordered by file position (`pos`), as in-process. When more
users qualify than `max_eval_users`, only a sample of them is held out, so every other user's
whole history is training data. Rating (large plan): a share of the ratings of a sample of the
*other* users, drawn from the top-N training split, which then lacks them too; one training
split serves both protocols. Samples are drawn by a seeded hash, not numpy's generator: the
same seed gives the same users on any cluster, though not the in-process build's users.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

TOPN_SALT, RATING_SALT = 1, 3  # the seed streams of the two user samples (as in-process: [seed, 1], [seed, 3])


@dataclass(frozen=True)
class SparkRatingHoldout:
    test: DataFrame
    train: DataFrame    # every other rating of the top-N training split: ALS is linear in the ratings
    n_users: int


def _held_out_count(n: Column, fraction: float) -> Column:
    from pyspark.sql import functions as F

    n_test = F.floor(F.lit(fraction) * n + F.lit(0.5))
    return F.when(n >= 2, F.least(F.greatest(n_test, F.lit(1)), n - 1)).otherwise(0)


def _mark_and_split(part: DataFrame, fraction: float, order: list[Column], latest: bool) -> tuple[DataFrame, DataFrame]:
    """Split `part` per user: the last (latest=True) or first round(f * n) rows in `order` go to test."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    by_user = Window.partitionBy("user_id")
    rank = F.row_number().over(by_user.orderBy(*order)) - 1
    marked = (part.withColumn("_n", F.count(F.lit(1)).over(by_user)).withColumn("_rank", rank)
              .withColumn("_k", _held_out_count(F.col("_n"), fraction)))
    is_test = (F.col("_rank") >= F.col("_n") - F.col("_k")) if latest else (F.col("_rank") < F.col("_k"))
    columns = part.columns
    return marked.where(~is_test).select(*columns), marked.where(is_test).select(*columns)


def _only(ratings: DataFrame, users: DataFrame, keep: bool) -> DataFrame:
    from pyspark.sql import functions as F

    return ratings.join(F.broadcast(users.select("user_id")), "user_id", "left_semi" if keep else "left_anti")


def temporal_holdout(ratings: DataFrame, test_fraction: float,
                     users: DataFrame | None = None) -> tuple[DataFrame, DataFrame]:
    """(train, test) frames with the columns of `ratings`; with `users` (a small frame of
    user_id), only those users give ratings to test and only their ratings are windowed."""
    from pyspark.sql import functions as F

    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    in_time = [F.col("timestamp"), F.col("pos")]
    if users is None:
        return _mark_and_split(ratings, test_fraction, in_time, latest=True)
    train, test = _mark_and_split(_only(ratings, users, keep=True), test_fraction, in_time, latest=True)
    return _only(ratings, users, keep=False).unionByName(train), test


def _eligible(ratings: DataFrame) -> DataFrame:
    """Users with a rating to hold out and one to keep (>= 2)."""
    from pyspark.sql import functions as F

    return ratings.groupBy("user_id").agg(F.count(F.lit(1)).alias("_n")).where(F.col("_n") >= 2).select("user_id")


def _draw(candidates: DataFrame, n: int, seed: int, salt: int) -> DataFrame:
    """`n` users by the lowest seeded hash: a uniform sample, collected so it is fixed once drawn."""
    from pyspark.sql import functions as F

    spark = candidates.sparkSession
    picked = (candidates.orderBy(F.xxhash64(F.col("user_id"), F.lit(seed), F.lit(salt)), "user_id").limit(n)
              .collect())
    return spark.createDataFrame([(int(r["user_id"]),) for r in picked], "user_id int")


def topn_users(ratings: DataFrame, max_users: int | None, seed: int) -> DataFrame | None:
    """The users the top-N holdout evaluates: `max_users` drawn among those with >= 2 ratings,
    or None for every user when there are no more than that (in-process: protocol.topn_users)."""
    eligible = _eligible(ratings)
    if max_users is None or eligible.count() <= max_users:
        return None
    return _draw(eligible, max_users, seed, TOPN_SALT)


def rating_holdout(train: DataFrame, n_users: int, fraction: float, seed: int,
                   exclude: DataFrame | None = None) -> SparkRatingHoldout:
    """Hold out `fraction` of the ratings (at least 1, never all) of `n_users` users drawn among
    those with >= 2 ratings in `train` and not in `exclude`; which ratings is a seeded hash of
    (user, movie), the in-process rule's random rank."""
    from pyspark.sql import functions as F

    if not 0.0 < fraction < 1.0:
        raise ValueError(f"rating holdout fraction must be in (0, 1), got {fraction}")
    candidates = _eligible(train)
    if exclude is not None:
        candidates = candidates.join(F.broadcast(exclude.select("user_id")), "user_id", "left_anti")
    chosen = _draw(candidates, n_users, seed, RATING_SALT)
    order = [F.xxhash64(F.col("user_id"), F.col("movie_id"), F.lit(seed), F.lit(RATING_SALT)), F.col("pos")]
    kept, test = _mark_and_split(_only(train, chosen, keep=True), fraction, order, latest=False)
    return SparkRatingHoldout(test=test, train=_only(train, chosen, keep=False).unionByName(kept),
                              n_users=chosen.count())
