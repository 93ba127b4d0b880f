"""Top-N evaluation: recommend k items per test user from the full catalogue, score the lists.

The model scores each user's training history, and candidates are every item not in it; the
relevant items are the user's held-out ratings at or above `relevance_threshold`. Only
users with at least one relevant held-out item are evaluated.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from latentlens.build.evaluate.metrics import ranking_metrics
from latentlens.build.interactions import Interactions
from latentlens.build.progress import get_logger

if TYPE_CHECKING:
    from latentlens.build.models.base import Recommender

log = get_logger(__name__)


def relevant_matrix(test: Interactions, relevance_threshold: float) -> sp.csr_matrix:
    """users x items, 1 where a held-out rating is at or above the threshold."""
    keep = test.rating >= relevance_threshold
    m = sp.csr_matrix(
        (np.ones(int(keep.sum()), np.float32), (test.user_idx[keep], test.item_idx[keep])),
        shape=(test.n_users, test.n_items),
    )
    m.sum_duplicates()
    m.data[:] = 1.0
    return m


def evaluate_topn(
    model: Recommender, train: Interactions, test: Interactions, k: int = 10,
    relevance_threshold: float = 4.0, batch_size: int = 1024, n_threads: int = 2, show_progress: bool = False,
) -> dict[str, float]:
    """Metrics of `model` (already fitted on `train`) at k; keys like "ndcg_at_10", "coverage"."""
    relevant = relevant_matrix(test, relevance_threshold)
    users = np.flatnonzero(np.diff(relevant.indptr) > 0)
    recommended, _ = model.recommend(users, train.histories.rows(users), k, batch_size=batch_size,
                                     n_threads=n_threads, show_progress=show_progress)
    popularity = np.bincount(train.item_idx, minlength=train.n_items)
    metrics = ranking_metrics(recommended, relevant[users], k=k, item_popularity=popularity)
    log.info("%s: ndcg@%d=%.4f over %d users", model.name, k, metrics[f"ndcg_at_{k}"], users.shape[0])
    return metrics
