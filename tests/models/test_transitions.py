"""The transitions model: the build's order rule, its regression rows by hand, its closed form against numpy,
and the behaviour an order-blind model cannot have: the same movies in another order give another pick."""

from __future__ import annotations

import numpy as np
import pytest

from latentlens.build.interactions import Interactions, Vocabulary
from latentlens.build.models.transitions import (
    Transitions,
    TransitionsConfig,
    most_rated,
    sequence_rows,
    time_order,
)
from tests.models.contract import fit_context


def interactions(users, items, timestamps, n_items=None) -> Interactions:
    users, items = np.asarray(users, np.int32), np.asarray(items, np.int32)
    n_users, n_items = int(users.max()) + 1, n_items or int(items.max()) + 1
    return Interactions(Vocabulary(np.arange(n_users) + 1), Vocabulary(np.arange(n_items) + 1), users, items,
                        np.full(users.shape, 4.0, np.float32), np.asarray(timestamps, np.int64))


def test_time_order_is_by_user_then_timestamp_then_file_position() -> None:
    data = interactions([1, 0, 0, 0, 1], [0, 1, 2, 3, 4], [5, 9, 3, 3, 1])
    # user 0: t=3 (file pos 2), t=3 (pos 3), t=9 (pos 1); user 1: t=1 (pos 4), t=5 (pos 0)
    assert time_order(data).tolist() == [2, 3, 1, 4, 0]


def test_sequence_rows_by_hand() -> None:
    config = TransitionsConfig(source_window=2, target_window=2, decay=0.5)
    users = np.array([0, 0, 0, 1, 1])
    items = np.array([0, 1, 2, 3, -1])  # -1: an item outside the kept ones
    x, y = sequence_rows(users, items, 4, config)
    # rows: positions with a next rating of the same user: 0, 1 (user 0) and 3 (user 1)
    assert x.toarray().tolist() == [[1, 0, 0, 0], [0.5, 1, 0, 0], [0, 0, 0, 1]]
    assert y.toarray().tolist() == [[0, 1, 0.5, 0], [0, 0, 1, 0], [0, 0, 0, 0]]


def test_weights_are_the_ridge_closed_form() -> None:
    rng = np.random.default_rng(3)
    n = 400
    data = interactions(rng.integers(0, 30, n), rng.integers(0, 12, n), rng.permutation(n))
    config = TransitionsConfig(source_window=3, target_window=2, decay=0.6, l2=5.0)
    model = Transitions(config).fit(data, fit_context())
    order = time_order(data)
    x, y = sequence_rows(data.user_idx[order], data.item_idx[order], data.n_items, config)
    x, y = x.toarray().astype(np.float64), y.toarray().astype(np.float64)
    expected = np.linalg.solve(x.T @ x + 5.0 * np.eye(data.n_items), x.T @ y)
    assert model.items_.tolist() == most_rated(data, config.max_items).tolist() == list(range(12))
    np.testing.assert_allclose(model.weights_, expected, rtol=1e-4, atol=1e-5)


def test_the_same_movies_in_another_order_give_another_pick() -> None:
    """Everyone who rated 0 rated 1 next, and everyone who rated 2 rated 3 next: a user whose latest rating is
    0 gets 1 first, one whose latest is 2 gets 3 first, though both rated {0, 2}."""
    users, items, times = [], [], []
    for u in range(40):
        chain = [0, 1, 2, 3] if u % 2 else [2, 3, 0, 1]
        users += [u] * 4
        items += chain
        times += [10 * u + k for k in range(4)]
    users += [40, 40, 41, 41]
    items += [2, 0, 0, 2]
    times += [1, 2, 1, 2]
    data = interactions(users, items, times, n_items=5)
    model = Transitions(TransitionsConfig(l2=1.0)).fit(data, fit_context())
    histories = data.histories.rows(np.array([40, 41]))
    picks, _ = model.recommend(np.array([40, 41]), histories, 1, exclude=histories.ratings)
    assert picks[:, 0].tolist() == [1, 3]
    nxt, scores = model.next_items(np.array([0, 2, 4]), 1)
    assert nxt[:, 0].tolist() == [1, 3, -1] and scores[0, 0] > 0


@pytest.mark.parametrize("l2", [0.0, -1.0])
def test_a_ridge_strength_must_be_positive(l2: float) -> None:
    with pytest.raises(ValueError):
        TransitionsConfig(l2=l2)


@pytest.mark.parametrize("block_ratings", [1, 7, 50, 10_000])
def test_blocks_of_whole_users_give_the_one_shot_products(block_ratings: int) -> None:
    from latentlens.build.models.transitions import gram_and_counts

    rng = np.random.default_rng(5)
    users = np.sort(rng.integers(0, 20, 300))
    items = rng.integers(-1, 9, 300)  # -1: outside the kept items
    config = TransitionsConfig(source_window=3, target_window=2, decay=0.6)
    x, y = sequence_rows(users, items, 9, config)
    g, counts = gram_and_counts(users, items, 9, config, np.float64, block_ratings=block_ratings)
    np.testing.assert_allclose(g, (x.T @ x).toarray(), rtol=1e-6)
    np.testing.assert_allclose(counts.toarray(), (x.T @ y).toarray(), rtol=1e-6)


@pytest.mark.parametrize("density", [0.02, 0.9])
def test_ridge_weights_are_p_times_the_counts_sparse_or_dense(density: float) -> None:
    import scipy.sparse as sp

    from latentlens.build.models.transitions import ridge_weights

    rng = np.random.default_rng(9)
    a = rng.normal(size=(40, 40))
    inverse = np.linalg.inv(a @ a.T + 40 * np.eye(40))
    counts = sp.random(40, 40, density=density, random_state=3, format="csr", dtype=np.float32)
    np.testing.assert_allclose(ridge_weights(inverse, counts), inverse @ counts.toarray(), rtol=1e-4, atol=1e-6)
