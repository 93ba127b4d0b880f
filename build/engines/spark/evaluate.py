"""The in-process metrics (build/evaluate/metrics.py) computed by Spark on distributed frames.

Same definitions: binary gains; NDCG, precision, recall, MAP and hit rate at k averaged over
users with at least one relevant held-out item (a user with no list counts as all misses);
coverage = distinct recommended items / catalogue size; novelty = mean -log2(count/sum) of
recommended items with training counts below 1 counted as 1; RMSE and MAE over predictions.
tests/engines/spark/test_equivalence.py holds the two implementations to float noise.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


def relevant(test: DataFrame, threshold: float) -> DataFrame:
    """(user_id, movie_id) of held-out ratings at or above the threshold."""
    from pyspark.sql import functions as F

    return test.where(F.col("rating") >= threshold).select("user_id", "movie_id").distinct()


def ranking_metrics(recs: DataFrame, relevant_items: DataFrame, train: DataFrame, n_items: int,
                    k: int = 10) -> dict[str, float]:
    """`recs`: (user_id, movie_id, rank 1..) lists of the evaluated users; keys as in-process."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    recs = recs.where(F.col("rank") <= k).select("user_id", "movie_id", "rank")
    n_rel = relevant_items.groupBy("user_id").agg(F.count("*").alias("n_rel"))
    users = n_rel.select("user_id")
    recs = recs.join(users, "user_id", "left_semi").persist()
    hits = recs.join(relevant_items.withColumn("hit", F.lit(1)), ["user_id", "movie_id"], "left")
    hits = hits.withColumn("hit", F.coalesce(F.col("hit"), F.lit(0)))
    upto = Window.partitionBy("user_id").orderBy("rank").rowsBetween(Window.unboundedPreceding, 0)
    hits = hits.withColumn("cum", F.sum("hit").over(upto))
    per_user = hits.groupBy("user_id").agg(
        F.sum(F.col("hit") / F.log2(F.col("rank") + 1)).alias("dcg"),
        F.sum("hit").alias("n_hits"),
        F.sum(F.when(F.col("hit") == 1, F.col("cum") / F.col("rank")).otherwise(0.0)).alias("ap"),
    )
    ideal = [0.0]
    for j in range(1, k + 1):
        ideal.append(ideal[-1] + 1.0 / math.log2(j + 1))
    cut = F.least(F.col("n_rel"), F.lit(k))
    idcg = F.element_at(F.array(*[F.lit(v) for v in ideal[1:]]), cut.cast("int"))
    scored = n_rel.join(per_user, "user_id", "left").fillna(0, subset=["dcg", "n_hits", "ap"])
    agg = scored.agg(
        F.avg(F.col("dcg") / idcg).alias("ndcg"),
        F.avg(F.col("n_hits") / F.lit(float(k))).alias("precision"),
        F.avg(F.col("n_hits") / F.col("n_rel")).alias("recall"),
        F.avg(F.col("ap") / cut).alias("map"),
        F.avg((F.col("n_hits") > 0).cast("double")).alias("hit_rate"),
        F.count("*").alias("n_users"),
    ).collect()[0]
    out = {f"{name}_at_{k}": float(agg[name] or 0.0) for name in ("ndcg", "precision", "recall", "map", "hit_rate")}
    counts = train.groupBy("movie_id").agg(F.count("*").cast("double").alias("c"))
    totals = counts.agg(F.sum("c"), F.count("*")).collect()[0]
    total = float(totals[0] + (n_items - totals[1]))  # every unrated catalogue item counts as 1
    info = -F.log2(F.greatest(F.coalesce(F.col("c"), F.lit(1.0)), F.lit(1.0)) / F.lit(total))
    spread = recs.join(counts, "movie_id", "left").agg(F.countDistinct("movie_id"), F.avg(info)).collect()[0]
    out["coverage"] = float(spread[0]) / n_items
    out["novelty"] = float(spread[1] or 0.0)
    out["n_users"] = float(agg["n_users"])
    recs.unpersist()
    return out


def rating_metrics(predictions: DataFrame, prediction: str = "prediction", label: str = "rating") -> dict[str, float]:
    """RMSE and MAE of a frame of predictions (NaN-free: the caller fills cold starts)."""
    from pyspark.sql import functions as F

    diff = F.col(prediction).cast("double") - F.col(label).cast("double")
    row = predictions.agg(F.sqrt(F.avg(diff * diff)).alias("rmse"), F.avg(F.abs(diff)).alias("mae")).collect()[0]
    return {"rmse": float(row["rmse"]), "mae": float(row["mae"])}
