"""The build's metrics on Spark: the in-process functions (build/evaluate/metrics.py) themselves.

Spark ranks and predicts; what the metrics read is small and bounded by the protocol, so it is
collected to the driver and scored there by the shared code: the evaluated users' top-k lists and
relevant items (at most `max_eval_users` users), the training count of each movie (one row per
movie) and the held-out predictions (the sampled users' ratings). One definition of every metric
on both engines, by construction; tests/engines/spark/test_equivalence.py keeps checking it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import polars as pl
import scipy.sparse as sp

from latentlens.build.evaluate import metrics

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


def relevant(test: DataFrame, threshold: float) -> DataFrame:
    """(user_id, movie_id) of held-out ratings at or above the threshold."""
    from pyspark.sql import functions as F

    return test.where(F.col("rating") >= threshold).select("user_id", "movie_id").distinct()


def _collect(frame: DataFrame) -> pl.DataFrame:
    collected = pl.from_arrow(frame.toArrow())
    assert isinstance(collected, pl.DataFrame)  # a Table is a DataFrame
    return collected


def ranking_metrics(recs: DataFrame, relevant_items: DataFrame, train: DataFrame, n_items: int,
                    k: int = 10) -> dict[str, float]:
    """`recs`: (user_id, movie_id, rank 1..) lists of the evaluated users; metrics.ranking_metrics over
    the users with a relevant held-out item (a user with no list counts as all misses)."""
    from pyspark.sql import functions as F

    rel = _collect(relevant_items.select("user_id", "movie_id"))
    lists = _collect(recs.where(F.col("rank") <= k).select("user_id", "movie_id", "rank")
                     .join(relevant_items.select("user_id").distinct(), "user_id", "left_semi"))
    counts = _collect(train.groupBy("movie_id").agg(F.count("*").alias("c")))
    item_ids = np.unique(np.concatenate([counts["movie_id"].to_numpy(), lists["movie_id"].to_numpy(),
                                         rel["movie_id"].to_numpy()]))
    if item_ids.size > n_items:
        raise ValueError(f"{item_ids.size} distinct movies in the lists and ratings, for a catalogue of {n_items}")
    user_ids = np.unique(rel["user_id"].to_numpy())
    rel_rows = np.searchsorted(user_ids, rel["user_id"].to_numpy())
    rel_cols = np.searchsorted(item_ids, rel["movie_id"].to_numpy())
    relevant_matrix = sp.csr_matrix((np.ones(rel.height), (rel_rows, rel_cols)), shape=(user_ids.size, n_items))
    recommended = -np.ones((user_ids.size, k), dtype=np.int64)
    recommended[np.searchsorted(user_ids, lists["user_id"].to_numpy()), lists["rank"].to_numpy() - 1] = (
        np.searchsorted(item_ids, lists["movie_id"].to_numpy()))
    popularity = np.zeros(n_items)  # every movie no training rating names counts as 1 (metrics' rule)
    popularity[np.searchsorted(item_ids, counts["movie_id"].to_numpy())] = counts["c"].to_numpy()
    return metrics.ranking_metrics(recommended, relevant_matrix, k=k, item_popularity=popularity)


def rating_metrics(predictions: DataFrame, prediction: str = "prediction", label: str = "rating") -> dict[str, float]:
    """RMSE and MAE of a frame of predictions (NaN-free: the caller fills cold starts)."""
    scored = _collect(predictions.select(prediction, label))
    pred, true = scored[prediction].to_numpy(), scored[label].to_numpy()
    return {"rmse": metrics.rmse(pred, true), "mae": metrics.mae(pred, true)}
