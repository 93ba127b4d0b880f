"""The in-process protocol's splits on Spark (build/evaluate/protocol.py), with its per-user rule.

Top-N: a user with n >= 2 ratings gives round(f * n) of their latest ratings to test (at least
1, at most n - 1: the in-process rule itself, build/evaluate/splits.py's held_out_counts, applied
to each user's ratings); ties in time are ordered by file position (`pos`), as in-process. When more
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
    from collections.abc import Callable

    import pyarrow as pa
    from pyspark.sql import Column, DataFrame

TOPN_SALT, RATING_SALT = 1, 3  # the seed streams of the two user samples (as in-process: [seed, 1], [seed, 3])


@dataclass(frozen=True)
class SparkRatingHoldout:
    test: DataFrame
    train: DataFrame    # every other rating of the top-N training split: ALS is linear in the ratings
    n_users: int


def _mark_and_split(part: DataFrame, fraction: float, order: list[Column], latest: bool) -> tuple[DataFrame, DataFrame]:
    """Split `part` per user: the last (latest=True) or first k rows in `order` go to test, k the shared
    rule's (build/evaluate/splits.py: held_out_counts), applied to each user's ratings as one Arrow table."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import BooleanType, StructField, StructType

    columns = part.columns
    keys = [f"_k{i}" for i in range(len(order))]
    keyed = part.select(*columns, *[c.alias(k) for c, k in zip(order, keys, strict=True)])
    schema = StructType([*part.schema.fields, StructField("_test", BooleanType(), False)])
    marked = keyed.groupBy("user_id").applyInArrow(_marker(fraction, keys, columns, latest), schema)
    return marked.where(~F.col("_test")).select(*columns), marked.where(F.col("_test")).select(*columns)


def _marker(fraction: float, keys: list[str], columns: list[str], latest: bool) -> Callable[[pa.Table], pa.Table]:
    """One user's ratings (an Arrow table) with `_test` marking the rows the holdout takes."""

    def mark(table: pa.Table) -> pa.Table:
        import numpy as np
        import pyarrow as pa

        from latentlens.build.evaluate.splits import held_out_counts

        n = table.num_rows
        order = np.lexsort([table.column(k).to_numpy() for k in reversed(keys)]) if n else np.arange(0)
        k = int(held_out_counts(np.array([n]), fraction)[0])
        rank = np.empty(n, dtype=np.int64)
        rank[order] = np.arange(n)
        is_test = rank >= n - k if latest else rank < k
        return table.select(columns).append_column("_test", pa.array(is_test, type=pa.bool_()))

    return mark


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
