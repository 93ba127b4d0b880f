"""The Spark split and metrics agree with the in-process functions on the same data (float noise only)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from latentlens.build.engines.spark import evaluate as spark_eval
from latentlens.build.engines.spark import models
from latentlens.build.engines.spark.split import temporal_holdout as spark_holdout
from latentlens.build.evaluate.metrics import mae, ranking_metrics, rmse
from latentlens.build.evaluate.splits import temporal_holdout
from latentlens.build.evaluate.topn import relevant_matrix
from latentlens.build.interactions import Interactions, Vocabulary
from latentlens.build.models.popularity import PopularityConfig, item_scores

N_USERS, N_ITEMS = 70, 90


@pytest.fixture(scope="module")
def ratings() -> pl.DataFrame:
    """Random ratings with many equal timestamps, so the file-order tie-break matters."""
    rng = np.random.default_rng(7)
    rows = []
    for user in range(1, N_USERS + 1):
        k = int(rng.integers(1, 40))
        items = rng.choice(np.arange(10, 10 + N_ITEMS), size=k, replace=False)
        for item in items:
            rows.append((user, int(item), float(rng.integers(1, 11) / 2), int(rng.integers(0, 6))))
    order = rng.permutation(len(rows))
    frame = pl.DataFrame([rows[i] for i in order], schema={"user_id": pl.Int32, "movie_id": pl.Int32,
                                                             "rating": pl.Float32, "timestamp": pl.Int64}, orient="row")
    return frame.with_row_index("pos").with_columns(pl.col("pos").cast(pl.Int64))


@pytest.fixture(scope="module")
def interactions(ratings: pl.DataFrame) -> Interactions:
    users = Vocabulary.from_ids(ratings["user_id"].to_numpy())
    items = Vocabulary.from_ids(np.arange(10, 10 + N_ITEMS))
    return Interactions(users, items, users.index(ratings["user_id"].to_numpy()).astype(np.int32),
                        items.index(ratings["movie_id"].to_numpy()).astype(np.int32),
                        ratings["rating"].to_numpy(), ratings["timestamp"].to_numpy())


@pytest.fixture(scope="module")
def frames(spark, ratings: pl.DataFrame):
    df = spark.createDataFrame(ratings.to_arrow())
    train, test = spark_holdout(df, 0.2)
    return df, train.persist(), test.persist()


def _pairs(inter: Interactions) -> set[tuple[int, int]]:
    return set(zip(inter.users.ids[inter.user_idx].tolist(), inter.items.ids[inter.item_idx].tolist(), strict=True))


def test_spark_holdout_is_the_in_process_holdout(frames, interactions) -> None:
    _, train, test = frames
    ref_train, ref_test = temporal_holdout(interactions, 0.2)
    assert {(r[0], r[1]) for r in test.select("user_id", "movie_id").collect()} == _pairs(ref_test)
    assert {(r[0], r[1]) for r in train.select("user_id", "movie_id").collect()} == _pairs(ref_train)


def test_ranking_metrics_agree_with_the_in_process_functions(spark, frames, interactions) -> None:
    _, train, test = frames
    ref_train, ref_test = temporal_holdout(interactions, 0.2)
    rng = np.random.default_rng(3)
    scores = rng.random((N_USERS, N_ITEMS))
    rows = [(int(interactions.users.ids[u]), int(interactions.items.ids[i]), float(scores[u, i]))
            for u in range(N_USERS) for i in range(N_ITEMS)]
    all_scores = spark.createDataFrame(rows, "user_id int, movie_id int, score double")

    def candidates(users, size):
        from pyspark.sql import Window
        from pyspark.sql import functions as F

        ranked = all_scores.join(users, "user_id", "left_semi").withColumn(
            "r", F.row_number().over(Window.partitionBy("user_id").orderBy(F.desc("score"), "movie_id")))
        return ranked.where(F.col("r") <= size).drop("r")

    k = 10
    relevant = spark_eval.relevant(test, 4.0)
    recs = models.top_unseen(candidates, relevant.select("user_id"), train, k, N_ITEMS)
    got = spark_eval.ranking_metrics(recs, relevant, train, N_ITEMS, k)

    rel = relevant_matrix(ref_test, 4.0)
    users = np.flatnonzero(np.diff(rel.indptr) > 0)
    rec_rows = {}
    for r in recs.collect():
        rec_rows.setdefault(r["user_id"], []).append((r["rank"], r["movie_id"]))
    matrix = -np.ones((users.size, k), dtype=np.int64)
    for row, u in enumerate(users):
        ranked = [m for _, m in sorted(rec_rows.get(int(interactions.users.ids[u]), []))]
        matrix[row, :len(ranked)] = interactions.items.index(np.array(ranked, dtype=np.int64))
    popularity = np.bincount(ref_train.item_idx, minlength=ref_train.n_items)
    want = ranking_metrics(matrix, rel[users], k=k, item_popularity=popularity)
    assert set(got) == set(want)
    for key in want:
        assert got[key] == pytest.approx(want[key], rel=1e-9, abs=1e-12), key
    # the Spark lists never hold a training item and are the true top-k of the unseen scores
    seen = _pairs(ref_train)
    assert not any((r["user_id"], r["movie_id"]) in seen for r in recs.collect())
    u0 = users[0]
    unseen = [i for i in np.argsort(-scores[u0], kind="stable")
              if (int(interactions.users.ids[u0]), int(interactions.items.ids[i])) not in seen][:k]
    assert list(matrix[0]) == unseen


def test_rating_metrics_agree(spark) -> None:
    rng = np.random.default_rng(5)
    pred, true = rng.random(500) * 5, rng.integers(1, 11, 500) / 2
    frame = spark.createDataFrame([(float(p), float(t)) for p, t in zip(pred, true, strict=True)],
                                  "prediction double, rating double")
    got = spark_eval.rating_metrics(frame)
    assert got["rmse"] == pytest.approx(rmse(pred, true), rel=1e-12)
    assert got["mae"] == pytest.approx(mae(pred, true), rel=1e-12)


def test_weighted_popularity_agrees(frames, interactions) -> None:
    df, _, _ = frames
    got = {r["movie_id"]: r["score"] for r in models.weighted_scores(df).collect()}
    want = item_scores(interactions, PopularityConfig(score="weighted"))
    for i, movie in enumerate(interactions.items.ids):
        if int(movie) in got:
            assert got[int(movie)] == pytest.approx(float(want[i]), rel=1e-6), movie
