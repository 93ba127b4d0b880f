"""Contract and model-specific tests of the top-N models."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.metrics.pairwise import cosine_similarity

from latentlens.build.interactions import Interactions, Vocabulary
from latentlens.build.models.ease import EASE, EASEConfig, ease_weights, profile_weights
from latentlens.build.models.itemknn import (
    ItemKNN,
    ItemKNNConfig,
    column_norms,
    cosine_transform,
    sparse_rows_top_n,
    top_k_neighbours,
)
from latentlens.build.models.popularity import Popularity, PopularityConfig, item_scores, popular_lists
from latentlens.build.models.ranking import top_n
from latentlens.build.models.transitions import Transitions, TransitionsConfig
from tests.models.contract import RecommenderContract, checkerboard, fit_context


def interactions(users, items, ratings, n_users=None, n_items=None, timestamps=None) -> Interactions:
    users, items = np.asarray(users), np.asarray(items)
    n_users = n_users or int(users.max()) + 1
    n_items = n_items or int(items.max()) + 1
    ts = np.arange(users.shape[0]) if timestamps is None else np.asarray(timestamps)
    return Interactions(Vocabulary(np.arange(n_users)), Vocabulary(np.arange(n_items)),
                        users.astype(np.int32), items.astype(np.int32),
                        np.asarray(ratings, np.float32), ts.astype(np.int64))


# --- contract ------------------------------------------------------------------------
class TestPopularityCount(RecommenderContract):
    personalised = False

    def make_model(self):
        return Popularity(PopularityConfig(score="count"))


class TestPopularityWeighted(RecommenderContract):
    personalised = False

    def make_model(self):
        return Popularity(PopularityConfig(score="weighted"))


class TestItemKNN(RecommenderContract):
    supports_similar_items = True

    def make_model(self):
        return ItemKNN(ItemKNNConfig())


class TestItemKNNBinary(RecommenderContract):
    supports_similar_items = True

    def make_model(self):
        return ItemKNN(ItemKNNConfig(weighting="binary", k=20, shrinkage=0.0))


class TestEASE(RecommenderContract):
    def make_model(self):
        return EASE(EASEConfig(l2=30.0))


class TestEASESteck(RecommenderContract):
    """Steck's binary profile (it reads the low cross-group ratings as interest: needs more λ)."""

    def make_model(self):
        return EASE(EASEConfig(l2=100.0, profile="binary"))


# --- popularity ----------------------------------------------------------------------
class TestTransitions(RecommenderContract):
    # The checkerboard's ratings come in random order, so what follows what is co-occurrence alone: wide
    # windows, the disliked movie weighed down, and the top two (not three) picks of every user own-group.
    n_top = 2

    def make_model(self):
        return Transitions(TransitionsConfig(source_window=8, target_window=8, rating_weight=1.0))


def test_weighted_rating_by_hand() -> None:
    # item 0: ratings 5, 5, 5, 5 (v=4, R=5); item 1: one 5 (v=1, R=5); item 2: 2, 2 (v=2, R=2)
    data = interactions([0, 1, 2, 3, 0, 1, 2], [0, 0, 0, 0, 1, 2, 2], [5, 5, 5, 5, 5, 2, 2], n_items=4)
    # C = (20 + 5 + 4) / 7 = 29/7; m = median of votes (4, 1, 2) = 2
    c, m = 29 / 7, 2.0
    expected = [(4 * 5 + m * c) / (4 + m), (1 * 5 + m * c) / (1 + m), (2 * 2 + m * c) / (2 + m), 0.0]
    got = item_scores(data, PopularityConfig(score="weighted", min_votes_quantile=0.5))
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    # the well-voted 5.0 beats the single 5.0; unrated item 3 is last
    assert list(np.argsort(-got)) == [0, 1, 2, 3]
    np.testing.assert_array_equal(item_scores(data, PopularityConfig(score="count")), [4, 1, 2, 0])


def test_popular_lists_per_genre() -> None:
    data = interactions([0, 1, 2, 0, 1, 0], [0, 0, 0, 1, 1, 2], [4, 4, 4, 3, 3, 5], n_items=4)
    genres = [["Drama"], ["Drama", "Comedy"], ["Comedy"], ["Drama"]]  # item 3 never rated
    lists = popular_lists(data, genres, n=5, config=PopularityConfig(score="count"))
    assert set(lists) == {None, "Drama", "Comedy"}
    np.testing.assert_array_equal(lists[None][0], [0, 1, 2])
    np.testing.assert_array_equal(lists[None][1], [3, 2, 1])
    np.testing.assert_array_equal(lists["Drama"][0], [0, 1])
    np.testing.assert_array_equal(lists["Comedy"][0], [1, 2])
    assert popular_lists(data, genres, n=1)["Comedy"][0].tolist() == [1]


# --- item-kNN ------------------------------------------------------------------------
@pytest.mark.parametrize("dense_inner_max", [0, 512], ids=["sparse-product", "blas-product"])
def test_chunked_cosine_equals_dense_sklearn(monkeypatch, dense_inner_max) -> None:
    import latentlens.build.models.itemknn as itemknn

    rng = np.random.default_rng(3)
    x = sp.random(40, 25, density=0.3, format="csr", random_state=rng, dtype=np.float32)
    monkeypatch.setattr(itemknn, "CHUNK_BUDGET", 25 * 4)  # 4 items per chunk: many chunks
    monkeypatch.setattr(itemknn, "DENSE_INNER_MAX", dense_inner_max)  # 40 users: both kinds of product
    k = 6
    got = top_k_neighbours(x.T.tocsr(), x, k, cosine_transform(column_norms(x)), n_threads=2,
                           show_progress=False).toarray()
    dense = cosine_similarity(x.T.toarray())
    np.fill_diagonal(dense, -np.inf)
    for i in range(25):
        keep = np.flatnonzero(got[i])
        assert keep.size == min(k, int((dense[i] > 0).sum()))
        np.testing.assert_allclose(got[i, keep], dense[i, keep], rtol=1e-5)
        # nothing left out is larger than what was kept
        assert np.delete(dense[i], keep).max(initial=-np.inf) <= got[i, keep].min() + 1e-6


def test_itemknn_scores_sum_similarities_of_rated_neighbours() -> None:
    board = checkerboard()
    model = ItemKNN(ItemKNNConfig(weighting="binary", k=3, shrinkage=0.0)).fit(board.data, fit_context())
    w = model.neighbours_.toarray()  # row i: i's 3 neighbours
    x = board.data.binary.toarray()
    np.testing.assert_allclose(model.score_users(np.arange(5), board.data.histories.rows(np.arange(5))), x[:5] @ w.T,
                               rtol=1e-5)
    assert ((w > 0).sum(axis=1) <= 3).all()


# --- EASE ----------------------------------------------------------------------------
def test_ease_closed_form_equals_numpy_inverse() -> None:
    rng = np.random.default_rng(0)
    x = (rng.random((30, 7)) < 0.4).astype(np.float64)
    p = np.linalg.inv(x.T @ x + 5.0 * np.eye(7))
    expected = np.eye(7) - p / np.diag(p)[None, :]
    np.testing.assert_allclose(ease_weights(x.T @ x, 5.0), expected, atol=1e-10)
    assert np.allclose(np.diag(expected), 0.0)


def test_ease_banded_mirror_on_a_larger_matrix(monkeypatch) -> None:
    import latentlens.build.models.ease as ease

    rng = np.random.default_rng(1)
    x = (rng.random((60, 50)) < 0.2).astype(np.float32)
    g = x.T @ x
    p = np.linalg.inv(g.astype(np.float64) + 3.0 * np.eye(50))
    expected = np.eye(50) - p / np.diag(p)[None, :]
    original = ease._mirror_upper_to_lower
    monkeypatch.setattr(ease, "_mirror_upper_to_lower", lambda a: original(a, block=7))
    np.testing.assert_allclose(ease_weights(g.copy(), 3.0), expected, atol=1e-4)


@pytest.mark.parametrize("panel_bytes", [None, 500], ids=["one-panel", "several-panels"])
def test_ease_scores_are_profile_times_weights(monkeypatch, panel_bytes) -> None:
    import latentlens.build.models.ease as ease

    board = checkerboard()
    if panel_bytes:  # B kept as several column panels (5 columns of 23 float32 rows), the last one narrower
        monkeypatch.setattr(ease, "PANEL_BYTES", panel_bytes)
    model = EASE(EASEConfig(l2=10.0, profile="binary")).fit(board.data, fit_context())
    widths = [panel.shape[1] for panel in model.panels_]
    assert sum(widths) == model.items_.size and (len(widths) > 2 if panel_bytes else len(widths) == 1)
    x = board.data.binary.toarray()[:, model.items_]
    scores = model.score_users(np.arange(4), board.data.histories.rows(np.arange(4)))
    np.testing.assert_allclose(scores[:, model.items_], x[:4] @ model.weights(), rtol=1e-4, atol=1e-5)


def test_profile_weights_by_hand() -> None:
    # user 0 rates 4 (t=1), 2 (t=3), 3 (t=2): mean 3; user 1 rates one 5 (entries in (user, item) order)
    data = interactions([0, 0, 0, 1], [0, 1, 2, 0], [4, 2, 3, 5], timestamps=[1, 3, 2, 9])
    liking = [1 + 0.5 * 1, 1 + 0.5 * -1, 1 + 0.5 * 0, 1.0]
    np.testing.assert_allclose(profile_weights(data.histories, 0.5, None, 0.3), liking)
    # ages in the user's own ratings: t=3 newest (0), t=2 (1), t=1 (2); user 1's only rating 0
    age = np.array([2, 0, 1, 0])
    recency = 0.3 + 0.7 * 0.5 ** (age / 1.0)
    np.testing.assert_allclose(profile_weights(data.histories, 0.5, 1.0, 0.3), np.array(liking) * recency, rtol=1e-6)
    assert profile_weights(data.histories, 3.0, None, 0.3)[1] == 0.0  # 1 + 3·(-1) floored at 0


def test_ease_items_outside_max_items_rank_last() -> None:
    board = checkerboard()
    model = EASE(EASEConfig(l2=10.0, max_items=10)).fit(board.data, fit_context())
    assert model.items_.shape == (10,)
    scores = model.score_users(np.arange(board.data.n_users), board.data.histories)
    outside = np.setdiff1d(np.arange(board.data.n_items), model.items_)
    assert (scores[:, outside].max(axis=1) < scores[:, model.items_].min(axis=1)).all()
    assert np.isfinite(scores).all()


def test_blocked_gram_equals_dense_product() -> None:
    from latentlens.build.models.ease import gram

    rng = np.random.default_rng(2)
    x = sp.random(50, 9, density=0.3, format="csr", random_state=rng, dtype=np.float32)
    np.testing.assert_allclose(gram(x, np.float64, users_per_block=7), (x.T @ x).toarray(), rtol=1e-6)
    # two threads, blocks of 3 users: every block is added exactly once
    np.testing.assert_allclose(gram(x, np.float64, users_per_block=7, n_threads=2), (x.T @ x).toarray(), rtol=1e-6)


def full_sort_top(dense: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The reference ranking: a full stable sort, score descending then item index; -1 where -inf."""
    order = np.lexsort((np.broadcast_to(np.arange(dense.shape[1]), dense.shape), -dense), axis=1)[:, :n]
    top = np.take_along_axis(dense, order, axis=1)
    return np.where(np.isfinite(top), order, -1), top


def test_sparse_rows_top_n_equals_ranking_the_dense_rows() -> None:
    """Sorting stored entries only ranks like a full sort of the densified rows: score
    descending, ties by the lower item index, -1 / -inf padding, repeated rows included."""
    rng = np.random.default_rng(3)
    m = sp.random(40, 60, density=0.1, format="csr", random_state=4, dtype=np.float32)
    m.data = np.round(m.data * 4) / 4 + 0.25  # coarse values: many ties
    rows = np.array([0, 5, 5, 39, 17, *rng.integers(0, 40, 10)])
    dense = np.full((rows.size, 60), -np.inf, dtype=np.float32)
    sub = m[rows].tocoo()
    dense[sub.row, sub.col] = sub.data
    for n in (1, 3, 12):
        items, scores = sparse_rows_top_n(m, rows, n)
        want_items, want_scores = full_sort_top(dense, n)
        np.testing.assert_array_equal(items, want_items)
        np.testing.assert_array_equal(scores, want_scores)


def test_top_n_equals_a_full_sort_with_ties_seen_items_and_non_finite_scores() -> None:
    """top_n must agree with a full stable sort: score descending, ties by the lower item
    index even at the cut (coarse scores make many), seen and non-finite never chosen."""
    rng = np.random.default_rng(5)
    scores = np.round(rng.standard_normal((37, 50)), 0).astype(np.float32)  # 37 rows: blocks of 16 and a rest
    scores[3, :] = np.nan
    scores[4, ::2] = np.inf
    seen = sp.random(37, 50, density=0.3, format="csr", random_state=6)
    masked = scores.copy()
    masked[seen.nonzero()] = -np.inf
    masked[~np.isfinite(masked)] = -np.inf
    for n in (1, 7, 60):
        items, top = top_n(scores, n, seen)
        want_items, want = full_sort_top(masked, n)
        width = min(n, 50)
        np.testing.assert_array_equal(items[:, :width], want_items)
        np.testing.assert_array_equal(top[:, :width], want)
        assert (items[:, width:] == -1).all() and np.isneginf(top[:, width:]).all()
    assert (top_n(scores, 5)[0][3] == -1).all()  # an all-NaN row has nothing to recommend
