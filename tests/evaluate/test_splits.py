"""Temporal holdout: the 20% rule and time order."""

from __future__ import annotations

import numpy as np

from latentlens.build.evaluate.splits import temporal_holdout
from latentlens.build.interactions import Interactions, Vocabulary


def make(users, timestamps) -> Interactions:
    users = np.asarray(users, np.int32)
    n = users.shape[0]
    return Interactions(Vocabulary(np.arange(users.max() + 1)), Vocabulary(np.arange(n)), users,
                        np.arange(n, dtype=np.int32), np.full(n, 4.0, np.float32), np.asarray(timestamps, np.int64))


def test_last_fifth_of_each_user_by_time() -> None:
    rng = np.random.default_rng(0)
    # user 0: 10 ratings (2 to test), user 1: 1 (none), user 2: 2 (1), user 3: 5 (1), user 4: 8 (round 1.6 = 2)
    users = np.repeat([0, 1, 2, 3, 4], [10, 1, 2, 5, 8])
    perm = rng.permutation(users.shape[0])  # input order must not matter
    data = make(users[perm], rng.permutation(1000)[: users.shape[0]])
    train, test = temporal_holdout(data, 0.2)
    assert train.n_ratings + test.n_ratings == data.n_ratings
    np.testing.assert_array_equal(np.bincount(test.user_idx, minlength=5), [2, 0, 1, 1, 2])
    for u in range(5):
        tr = train.timestamp[train.user_idx == u]
        te = test.timestamp[test.user_idx == u]
        if te.size:
            assert tr.max() < te.min()
    assert set(train.item_idx) | set(test.item_idx) == set(range(data.n_ratings))  # a partition
    assert train.n_users == test.n_users == data.n_users


def test_ties_broken_by_input_order() -> None:
    # 5 ratings at the same instant: the last one in the input goes to test
    data = make([0, 0, 0, 0, 0], [7, 7, 7, 7, 7])
    _, test = temporal_holdout(data, 0.2)
    np.testing.assert_array_equal(test.item_idx, [4])


def test_a_user_mask_limits_the_holdout_to_those_users() -> None:
    rng = np.random.default_rng(1)
    users = np.repeat([0, 1, 2, 3], [10, 10, 5, 1])
    data = make(users, rng.permutation(100)[: users.shape[0]])
    everyone_train, everyone_test = temporal_holdout(data, 0.2)
    train, test = temporal_holdout(data, 0.2, users=np.array([True, False, True, True]))
    np.testing.assert_array_equal(np.bincount(test.user_idx, minlength=4), [2, 0, 1, 0])
    np.testing.assert_array_equal(np.bincount(train.user_idx, minlength=4), [8, 10, 4, 1])
    # a masked-in user loses exactly the ratings the unmasked split takes from them
    assert set(test.item_idx) == set(everyone_test.item_idx[everyone_test.user_idx != 1])
