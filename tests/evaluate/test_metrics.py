"""Metrics against values computed by hand on tiny examples."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from latentlens.build.evaluate.metrics import hit_matrix, mae, ndcg_at, ranking_metrics, rmse


def relevant(rows: list[list[int]], n_items: int) -> sp.csr_matrix:
    r = [u for u, items in enumerate(rows) for _ in items]
    c = [i for items in rows for i in items]
    return sp.csr_matrix((np.ones(len(c)), (r, c)), shape=(len(rows), n_items))


RECOMMENDED = np.array([[0, 1, 2], [3, 4, -1], [5, 6, 7]])
# user 0: relevant {1, 5, 9}; user 1: {3} (and a -1 pad that must not alias user 0's item 9);
# user 2: nothing relevant, so not averaged
RELEVANT = relevant([[1, 5, 9], [3], []], n_items=10)


def test_hits_ignore_padding() -> None:
    np.testing.assert_array_equal(hit_matrix(RECOMMENDED, RELEVANT),
                                  [[False, True, False], [True, False, False], [False, False, False]])


def test_ranking_metrics_by_hand() -> None:
    m = ranking_metrics(RECOMMENDED, RELEVANT, k=3)
    # user 0: one hit at rank 2 of 3 relevant; user 1: one hit at rank 1 of 1 relevant
    ndcg0 = (1 / math.log2(3)) / (1 + 1 / math.log2(3) + 1 / math.log2(4))
    ndcg1 = 1.0
    assert m["ndcg_at_3"] == pytest.approx((ndcg0 + ndcg1) / 2)
    assert m["precision_at_3"] == pytest.approx((1 / 3 + 1 / 3) / 2)
    assert m["recall_at_3"] == pytest.approx((1 / 3 + 1 / 1) / 2)
    # AP: user 0, precision@2 = 1/2 at its hit, over min(3, 3); user 1: precision@1 = 1 over 1
    assert m["map_at_3"] == pytest.approx(((1 / 2) / 3 + 1 / 1) / 2)
    assert m["hit_rate_at_3"] == pytest.approx(1.0)
    assert m["n_users"] == 2
    assert m["coverage"] == pytest.approx(8 / 10)  # items 0-7 recommended, 10 in the catalogue


def test_ideal_dcg_stops_at_k() -> None:
    # 5 relevant items, k=2, both recommended relevant: a perfect list, NDCG 1 and MAP 1
    m = ranking_metrics(np.array([[0, 1]]), relevant([[0, 1, 2, 3, 4]], 6), k=2)
    assert m["ndcg_at_2"] == pytest.approx(1.0)
    assert m["map_at_2"] == pytest.approx(1.0)
    assert m["recall_at_2"] == pytest.approx(2 / 5)


def test_map_rewards_early_hits() -> None:
    # hits at ranks 1 and 3 of 3, two relevant: AP = (1/1 + 2/3) / 2
    m = ranking_metrics(np.array([[7, 0, 8]]), relevant([[7, 8]], 9), k=3)
    assert m["map_at_3"] == pytest.approx((1 + 2 / 3) / 2)
    assert m["ndcg_at_3"] == pytest.approx((1 + 1 / 2) / (1 + 1 / math.log2(3)))


def test_novelty_is_mean_self_information() -> None:
    counts = np.array([16, 8, 4, 2, 2, 2, 2, 2, 1, 1])  # sum 40
    m = ranking_metrics(RECOMMENDED, RELEVANT, k=3, item_popularity=counts)
    expected = np.mean([-math.log2(c / 40) for c in counts[:8]])  # recommended: items 0..7
    assert m["novelty"] == pytest.approx(expected)


def test_rmse_and_mae_by_hand() -> None:
    pred, true = np.array([3.0, 4.0, 5.0]), np.array([4.0, 4.0, 3.0])
    assert rmse(pred, true) == pytest.approx(math.sqrt((1 + 0 + 4) / 3))
    assert mae(pred, true) == pytest.approx((1 + 0 + 2) / 3)


def test_row_count_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError):
        ranking_metrics(RECOMMENDED[:2], RELEVANT, k=3)


def test_ndcg_comes_with_its_standard_error_over_users() -> None:
    rng = np.random.default_rng(4)
    recommended = rng.integers(0, 30, size=(50, 10))
    relevant = sp.random(50, 30, density=0.2, random_state=1, format="csr")
    relevant.data[:] = 1.0
    m = ranking_metrics(recommended, relevant, k=10)
    per_user = ndcg_at(hit_matrix(recommended, relevant), np.diff(relevant.indptr), 10)
    per_user = per_user[np.diff(relevant.indptr) > 0]
    assert m["ndcg_at_10"] == pytest.approx(per_user.mean())
    assert m["ndcg_at_10_se"] == pytest.approx(per_user.std(ddof=1) / np.sqrt(per_user.size)) and m["ndcg_at_10_se"] > 0
