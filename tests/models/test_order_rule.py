"""One order rule everywhere (docs/data.md, "The order of ratings"): by timestamp, ties by position in the
ratings file. The transitions model's sequences (time_order) and the histories' ages (what the "recent" reasons
read) must agree on it, on data full of equal timestamps as MovieLens is."""

from __future__ import annotations

import numpy as np

from latentlens.build.interactions import Interactions, Vocabulary, ages
from latentlens.build.models.transitions import time_order


def test_time_order_and_ages_agree_on_ties() -> None:
    rng = np.random.default_rng(29)
    n_users, n = 7, 400
    users = rng.integers(0, n_users, n).astype(np.int32)
    timestamp = rng.integers(0, 4, n).astype(np.int64)  # four distinct seconds: ties everywhere
    order = time_order(Interactions(Vocabulary(np.arange(n_users) + 1), Vocabulary(np.arange(n) + 1), users,
                                    np.arange(n, dtype=np.int32), np.full(n, 4.0, np.float32), timestamp))
    age = ages(users, timestamp, n_users)
    for u in range(n_users):
        mine = order[users[order] == u]
        assert (np.diff(timestamp[mine]) >= 0).all()
        tied = np.diff(timestamp[mine]) == 0
        assert (np.diff(mine)[tied] > 0).all()  # equal seconds: the earlier line first
        assert age[mine].tolist() == list(range(mine.size - 1, -1, -1))  # the last in order is the newest (0)
