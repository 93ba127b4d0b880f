"""The temporal per-user holdout on Spark: the rule of build/evaluate/splits.py, by window functions.

A user with n >= 2 ratings gives round(f * n) of their latest ratings to test (at least 1,
at most n - 1); ties in time are ordered by file position (`pos`), as in-process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


def temporal_holdout(ratings: DataFrame, test_fraction: float) -> tuple[DataFrame, DataFrame]:
    """(train, test) frames with the columns of `ratings`."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    by_user = Window.partitionBy("user_id")
    in_time = by_user.orderBy("timestamp", "pos")
    n = F.count(F.lit(1)).over(by_user)
    rank = F.row_number().over(in_time) - 1  # 0 = the user's oldest rating
    n_test = F.floor(F.lit(test_fraction) * F.col("_n") + F.lit(0.5))
    n_test = F.when(F.col("_n") >= 2, F.least(F.greatest(n_test, F.lit(1)), F.col("_n") - 1)).otherwise(0)
    marked = (ratings.withColumn("_n", n).withColumn("_rank", rank)
              .withColumn("_test", F.col("_rank") >= F.col("_n") - n_test))
    columns = ratings.columns
    return marked.where(~F.col("_test")).select(*columns), marked.where(F.col("_test")).select(*columns)
