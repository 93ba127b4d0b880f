"""Spark's top-k steps equal a numpy brute force on tiny factors: per-user unseen top-n from
recommendForUserSubset (over-fetched, filtered, re-ranked), and cosine similar items from the
blocked self-join."""

from __future__ import annotations

import numpy as np
import pytest

from latentlens.build.engines.spark import models


@pytest.fixture(scope="module")
def fitted(spark):
    rng = np.random.default_rng(11)
    rows = set()
    for user in range(1, 31):
        for item in rng.choice(40, size=int(rng.integers(2, 12)), replace=False):
            rows.add((user, int(item) + 1))
    rows |= {(99, item) for item in range(1, 37)}  # a user who has seen all but 4 of the 40 items
    data = [(u, i, float(rng.integers(1, 6)), 0, n) for n, (u, i) in enumerate(sorted(rows))]
    frame = spark.createDataFrame(data, "user_id int, movie_id int, rating float, timestamp long, pos long")
    model = models.fit_als(frame, models.AlsConfig(rank=4, max_iter=3, reg=0.1))
    return frame, model


def _factors(frame) -> tuple[np.ndarray, np.ndarray]:
    rows = sorted(frame.collect(), key=lambda r: r["id"])
    return np.array([r["id"] for r in rows]), np.array([r["features"] for r in rows], dtype=np.float64)


def test_unseen_top_n_equals_brute_force(fitted) -> None:
    frame, model = fitted
    users, u = _factors(model.userFactors)
    items, v = _factors(model.itemFactors)
    seen = {(r["user_id"], r["movie_id"]) for r in frame.collect()}
    n = 5
    got = models.top_unseen(models.als_candidates(model), frame.select("user_id"), frame, n, len(items)).collect()
    lists: dict[int, list[tuple[int, int, float]]] = {}
    for r in got:
        lists.setdefault(r["user_id"], []).append((r["rank"], r["movie_id"], r["score"]))
    assert set(lists) == set(users.tolist())
    for row, user in enumerate(users):
        scores = (u[row] @ v.T).astype(np.float32)
        order = [int(items[j]) for j in np.lexsort((items, -scores)) if (int(user), int(items[j])) not in seen][:n]
        mine = [m for _, m, _ in sorted(lists[int(user)])]
        assert mine == order, user
        assert [rank for rank, _, _ in sorted(lists[int(user)])] == list(range(1, len(order) + 1))
        want_scores = {int(items[j]): float(scores[j]) for j in range(len(items))}
        for _, movie, score in lists[int(user)]:
            assert score == pytest.approx(want_scores[movie], rel=1e-4, abs=1e-5)
    assert len(lists[99]) == 4  # all its unseen items, found past the 36 seen ones


def test_similar_items_equal_brute_force_cosine(fitted) -> None:
    _, model = fitted
    items, v = _factors(model.itemFactors)
    n = 6
    got = models.similar_items(model.itemFactors, n, block=7).collect()  # 40 items: 6 blocks, 36 block pairs
    unit = v / np.linalg.norm(v, axis=1, keepdims=True)
    sims = unit @ unit.T
    np.fill_diagonal(sims, -np.inf)
    lists: dict[int, list[tuple[int, int, float]]] = {}
    for r in got:
        lists.setdefault(r["movie_id"], []).append((r["rank"], r["similar_movie_id"], r["score"]))
    assert set(lists) == set(items.tolist())
    for row, item in enumerate(items):
        want = [int(items[j]) for j in np.lexsort((items, -sims[row]))[:n]]
        ranked = sorted(lists[int(item)])
        assert [m for _, m, _ in ranked] == want, item
        assert [s for _, _, s in ranked] == pytest.approx([float(sims[row, items.tolist().index(m)]) for m in want],
                                                         rel=1e-9)
