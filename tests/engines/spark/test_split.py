"""The Spark engine's splits follow the in-process protocol (build/evaluate/protocol.py): only the
sampled users hold out their latest ratings, and the rating holdout is drawn among the others."""

from __future__ import annotations

from collections import Counter

import numpy as np
import polars as pl
import pytest

from latentlens.build.engines.spark.split import rating_holdout, temporal_holdout, topn_users
from latentlens.build.evaluate.splits import temporal_holdout as in_process_holdout
from latentlens.build.interactions import Interactions, Vocabulary

N_USERS = 120


@pytest.fixture(scope="module")
def ratings() -> pl.DataFrame:
    """Users with 1..40 ratings (some with one: never held out), equal timestamps common."""
    rng = np.random.default_rng(11)
    rows = []
    for user in range(1, N_USERS + 1):
        for item in rng.choice(np.arange(1, 200), size=int(rng.integers(1, 40)), replace=False):
            rows.append((user, int(item), float(rng.integers(1, 11) / 2), int(rng.integers(0, 8))))
    frame = pl.DataFrame([rows[i] for i in rng.permutation(len(rows))], orient="row",
                         schema={"user_id": pl.Int32, "movie_id": pl.Int32, "rating": pl.Float32,
                                 "timestamp": pl.Int64})
    return frame.with_row_index("pos").with_columns(pl.col("pos").cast(pl.Int64))


@pytest.fixture(scope="module")
def df(spark, ratings: pl.DataFrame):
    return spark.createDataFrame(ratings.to_arrow()).persist()


def _pairs(frame) -> set[tuple[int, int]]:
    return {(r["user_id"], r["movie_id"]) for r in frame.select("user_id", "movie_id").collect()}


def _per_user(ratings: pl.DataFrame) -> dict[int, int]:
    return dict(Counter(ratings["user_id"].to_list()))


def test_topn_users_is_none_when_every_eligible_user_fits(df, ratings) -> None:
    eligible = sum(1 for n in _per_user(ratings).values() if n >= 2)
    assert topn_users(df, None, seed=0) is None
    assert topn_users(df, eligible, seed=0) is None
    assert topn_users(df, eligible - 1, seed=0) is not None


def test_topn_users_draws_eligible_users_fixed_by_the_seed(df, ratings) -> None:
    counts = _per_user(ratings)
    first = {r["user_id"] for r in topn_users(df, 30, seed=4).collect()}
    assert len(first) == 30 and all(counts[u] >= 2 for u in first)
    assert {r["user_id"] for r in topn_users(df, 30, seed=4).collect()} == first
    assert {r["user_id"] for r in topn_users(df, 30, seed=5).collect()} != first


def test_sampled_holdout_is_the_in_process_holdout_with_the_same_users(df, ratings) -> None:
    users = topn_users(df, 30, seed=2)
    chosen = {r["user_id"] for r in users.collect()}
    train, test = temporal_holdout(df, 0.2, users=users)

    vocab = Vocabulary.from_ids(ratings["user_id"].to_numpy())
    items = Vocabulary.from_ids(ratings["movie_id"].unique().sort().to_numpy())
    data = Interactions(vocab, items, vocab.index(ratings["user_id"].to_numpy()).astype(np.int32),
                        items.index(ratings["movie_id"].to_numpy()).astype(np.int32),
                        ratings["rating"].to_numpy(), ratings["timestamp"].to_numpy())
    mask = np.isin(vocab.ids, list(chosen))
    ref_train, ref_test = in_process_holdout(data, 0.2, users=mask)

    def pairs(inter: Interactions) -> set[tuple[int, int]]:
        return set(zip(inter.users.ids[inter.user_idx].tolist(), inter.items.ids[inter.item_idx].tolist(), strict=True))

    assert _pairs(test) == pairs(ref_test)
    assert _pairs(train) == pairs(ref_train)
    assert {u for u, _ in _pairs(test)} <= chosen
    assert train.count() + test.count() == len(ratings)


def test_rating_holdout_takes_a_share_of_other_users_ratings(df, ratings) -> None:
    evaluated = topn_users(df, 30, seed=2)
    excluded = {r["user_id"] for r in evaluated.collect()}
    train, _ = temporal_holdout(df, 0.2, users=evaluated)
    holdout = rating_holdout(train, 25, 0.25, seed=2, exclude=evaluated)
    test = holdout.test.collect()
    held_users = Counter(r["user_id"] for r in test)
    assert holdout.n_users == 25 and len(held_users) == 25
    assert not held_users.keys() & excluded
    before = Counter(r["user_id"] for r in train.select("user_id").collect())
    for user, k in held_users.items():
        assert k == min(max(int(np.floor(0.25 * before[user] + 0.5)), 1), before[user] - 1)
    train_pairs, test_pairs = _pairs(holdout.train), {(r["user_id"], r["movie_id"]) for r in test}
    assert not train_pairs & test_pairs
    assert train_pairs | test_pairs == _pairs(train)
    again = rating_holdout(train, 25, 0.25, seed=2, exclude=evaluated)
    assert _pairs(again.test) == test_pairs


def test_rating_holdout_is_not_the_latest_ratings(df) -> None:
    """Which ratings a rating user gives is random (hashed), not time-ordered like top-N."""
    holdout = rating_holdout(df, 60, 0.5, seed=0)
    latest_train, latest_test = temporal_holdout(df, 0.5, users=holdout.test.select("user_id").distinct())
    assert _pairs(holdout.test) != _pairs(latest_test)


def test_build_splits_of_the_large_plan_match_the_in_process_protocol(spark, tmp_path) -> None:
    """On the embedded data with the large plan's shape (sampled top-N users, a rating holdout
    among the others): the three parts partition the ratings and the protocols do not share users."""
    from latentlens.build.engines.spark.context import splits as _splits
    from latentlens.build.engines.spark.io import read_release
    from latentlens.build.settings import EvaluationSettings
    from latentlens.build.stages.evaluate import RATING_HOLDOUT_PROTOCOL
    from tests.conftest import EMBEDDED

    release = read_release(spark, EMBEDDED, False, tmp_path)
    split = _splits(release.ratings, EvaluationSettings(max_eval_users=200, rating_holdout_users=150), seed=42)
    topn_users_ = {r["user_id"] for r in split.test.select("user_id").distinct().collect()}
    rating_users = {r["user_id"] for r in split.rating_test.select("user_id").distinct().collect()}
    assert len(topn_users_) == 200 and len(rating_users) == 150
    assert not topn_users_ & rating_users
    assert split.rating_protocol == RATING_HOLDOUT_PROTOCOL
    parts = [split.train, split.test, split.rating_test]
    assert sum(p.count() for p in parts) == release.n_ratings
    assert len(set().union(*(_pairs(p) for p in parts))) == release.n_ratings
    assert split.sampled == {"topn_eval_users": 200, "rating_holdout_users": 150,
                             "rating_holdout_ratings": split.rating_test.count(),
                             "train_ratings": split.train.count(), "topn_test_ratings": split.test.count()}
