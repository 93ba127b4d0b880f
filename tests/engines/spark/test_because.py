"""`because` on Spark: equal to a numpy brute force of cos(pick, rated) x centred rating on tiny
factors, and on the embedded build every reason is one of the user's own above-mean ratings."""

from __future__ import annotations

import duckdb
import numpy as np
import polars as pl
import pytest

from latentlens.build.engines.spark.because import with_because
from latentlens.handler import schema
from tests.conftest import EMBEDDED


def _brute_force(picks, rated, factors, n):
    """{(user, pick): [(movie, stars), ...]} by plain loops over the definition."""
    unit = {m: v / np.linalg.norm(v) for m, v in factors.items()}
    out = {}
    for user, user_picks in picks.items():
        stars = rated[user]
        mean = np.mean(np.array(list(stars.values()), dtype=np.float32), dtype=np.float64)
        for pick in user_picks:
            scored = []
            for movie, r in stars.items():
                cos = float(unit[pick] @ unit[movie])
                if movie != pick and r > mean and cos > 0:
                    scored.append((-(cos * (r - mean)), movie, r))
            out[(user, pick)] = [(m, r) for _, m, r in sorted(scored)[:n]]
    return out


def test_because_equals_a_brute_force_on_tiny_factors(spark) -> None:
    rng = np.random.default_rng(5)
    n_items, n = 25, 3
    factors = {m: rng.normal(size=4).astype(np.float32).astype(np.float64) for m in range(1, n_items + 1)}
    rated, picks = {}, {}
    for user in range(1, 13):
        seen = rng.choice(np.arange(1, n_items + 1), size=int(rng.integers(1, 12)), replace=False)
        rated[user] = {int(m): float(rng.integers(1, 11)) / 2 for m in seen}
        unseen = [m for m in range(1, n_items + 1) if m not in rated[user]]
        picks[user] = [int(m) for m in rng.choice(unseen, size=5, replace=False)]
    rated[7] = {m: 4.0 for m in rated[7]}  # no rating above the mean: no reasons at all
    ratings = spark.createDataFrame([(u, m, r) for u, s in rated.items() for m, r in s.items()],
                                    "user_id int, movie_id int, rating float")
    recs = spark.createDataFrame([(u, k, m, float(10 - k)) for u, ms in picks.items() for k, m in enumerate(ms, 1)],
                                 "user_id int, rank int, movie_id int, score double")
    item_factors = spark.createDataFrame([(m, [float(x) for x in v]) for m, v in factors.items()],
                                         "id int, features array<float>")
    explained_ranks = 4  # the fifth pick of each user gets no reasons
    got = with_because(recs, ratings, item_factors, n, explained_ranks).collect()
    want = _brute_force(picks, rated, factors, n)
    assert len(got) == len(want)
    for row in got:
        assert picks[row["user_id"]][row["rank"] - 1] == row["movie_id"]
        assert row["score"] == 10 - row["rank"]
        mine = [(r["movie_id"], r["rating"]) for r in row["because"]]
        expected = want[(row["user_id"], row["movie_id"])] if row["rank"] <= explained_ranks else []
        assert mine == expected, (row["user_id"], row["movie_id"])
    assert all(not r["because"] for r in got if r["user_id"] == 7)
    explained = [r for r in got if r["rank"] <= explained_ranks]
    assert sum(len(r["because"]) == n for r in explained) >= len(explained) / 3  # many picks have all n reasons


@pytest.mark.slow
def test_embedded_build_reasons_are_the_users_own_liked_movies(spark_build) -> None:
    settings, _ = spark_build
    con = duckdb.connect(str(settings.out), read_only=True)
    recs = pl.from_arrow(con.sql("SELECT user_id, rank, movie_id, because FROM user_recommendations").to_arrow_table())
    con.close()
    ratings = pl.read_csv(EMBEDDED / "ratings.csv").select(
        pl.col("userId").alias("user_id"), pl.col("movieId").alias("rated_id"), pl.col("rating").cast(pl.Float32))
    means = ratings.group_by("user_id").agg(pl.col("rating").mean().alias("mean"))
    lengths = recs["because"].list.len()
    explained = recs["rank"] <= schema.BECAUSE_RANKS
    assert lengths.max() <= schema.BECAUSE_N
    assert (lengths.filter(explained) > 0).mean() > 0.9  # nearly every pick in the explained ranks
    assert (lengths.filter(~explained) == 0).all()  # later ranks carry none, as in-process
    reasons = (recs.with_row_index("pair").select("pair", "user_id", pl.col("movie_id").alias("pick"), "because")
               .explode("because").drop_nulls("because").unnest("because").rename({"movie_id": "rated_id"}))
    joined = reasons.join(ratings, on=["user_id", "rated_id"], how="left", suffix="_given").join(means, on="user_id")
    assert joined["rating_given"].null_count() == 0  # every reason is a movie the user rated
    assert (joined["rating"] == joined["rating_given"]).all()  # with the user's own stars
    assert (joined["rating"] > joined["mean"]).all()  # above the user's mean
    assert (joined["rated_id"] != joined["pick"]).all()
    assert joined.select(pl.struct("pair", "rated_id").is_unique().all()).item()
