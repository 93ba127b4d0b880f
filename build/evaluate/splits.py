"""Temporal holdout: the test set is each user's most recent ratings, as in deployment.

A random split lets a model see a user's future while predicting their past; holding out
the latest ratings measures what the build will actually do - recommend what comes next.
"""

from __future__ import annotations

import numpy as np

from latentlens.build.interactions import Interactions


def held_out_counts(per_user: np.ndarray, test_fraction: float) -> np.ndarray:
    """How many of a user's n ratings a holdout takes: round(test_fraction * n), at least 1 and at most
    n - 1, so every user stays known to the model; 0 for a user with fewer than 2 ratings. The one rule
    of every holdout, in-process and on Spark (build/engines/spark/split.py applies it per user)."""
    per_user = np.asarray(per_user, dtype=np.int64)
    n_test = np.floor(test_fraction * per_user + 0.5).astype(np.int64)
    return np.where(per_user >= 2, np.clip(n_test, 1, np.maximum(per_user - 1, 1)), 0)


def temporal_holdout(data: Interactions, test_fraction: float = 0.2,
                     users: np.ndarray | None = None) -> tuple[Interactions, Interactions]:
    """Split into (train, test): the last `test_fraction` of each user's ratings by time go to test.

    A user with n >= 2 ratings gives round(test_fraction * n) of them to test, at least 1 and
    at most n - 1, so every user stays known to the model; users with fewer than 2 ratings
    keep all in train. Equal timestamps are ordered by their position in `data` (stable).
    `users` (a boolean mask over the user vocabulary) limits the holdout to those users: every
    other user keeps their whole history in train, as they will in the shipped model.
    Both halves keep the full user and item vocabularies.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    n = data.n_ratings
    order = np.lexsort((np.arange(n), data.timestamp, data.user_idx))
    users_sorted = data.user_idx[order]
    counts = np.bincount(data.user_idx, minlength=data.n_users)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.arange(n) - starts[users_sorted]          # 0 = the user's oldest rating
    per_user = counts[users_sorted]
    n_test = held_out_counts(per_user, test_fraction)
    if users is not None:
        n_test = np.where(np.asarray(users, dtype=bool)[users_sorted], n_test, 0)
    is_test_sorted = rank >= per_user - n_test
    is_test = np.empty(n, dtype=bool)
    is_test[order] = is_test_sorted
    return data.subset(~is_test), data.subset(is_test)
