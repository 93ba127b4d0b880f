"""Why a movie is on a user's list: the user's rated movies that contributed most, for any champion.

The explanation is model-agnostic, so it reads the same whichever model ranked the list: for a
recommended movie j and each movie i the user rated, contribution = sim(j, i) x (rating - the
user's mean rating), with sim item-kNN's stored neighbour similarity (row j of its neighbour
matrix, the very sum item-kNN scores j by). Where no item-kNN neighbour contributes a positive
amount, content similarity is asked instead. The BECAUSE_N largest positive contributions are kept.

Vectorised per batch of (user, movie) pairs: the pairs' neighbour rows times the users' centred
rating rows, elementwise (a sparse product that only touches movies both share), then one
sparse top-n per row. Memory is bounded by the batch, never users x items.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from build.models.base import Interactions, top_entries_per_row
from build.progress import progress

PAIRS_PER_BATCH = 1 << 16


@dataclass(frozen=True)
class Reasons:
    """Per (user, movie) pair, up to n explaining items (dense indices, -1 padded) and the user's ratings."""

    items: np.ndarray    # (pairs, n) int64
    ratings: np.ndarray  # (pairs, n) float32


def centred_ratings(data: Interactions) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """users x items: rating minus the user's mean, and the raw ratings on the same pattern."""
    counts = np.bincount(data.user_idx, minlength=data.n_users)
    sums = np.bincount(data.user_idx, weights=data.rating, minlength=data.n_users)
    means = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
    centred = (data.rating - means[data.user_idx]).astype(np.float32)
    shape = (data.n_users, data.n_items)
    # A centred value of exactly 0 must stay a stored entry (it still carries its rating).
    return (sp.csr_matrix((centred, (data.user_idx, data.item_idx)), shape=shape),
            sp.csr_matrix((data.rating.astype(np.float32), (data.user_idx, data.item_idx)), shape=shape))


def _batch(similarities: sp.csr_matrix, centred: sp.csr_matrix, ratings: sp.csr_matrix,
           users: np.ndarray, items: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(pair, rated item, rating, rank) of the n largest positive contributions of each pair."""
    contrib = similarities[items].multiply(centred[users]).tocsr()
    contrib.data[~(contrib.data > 0)] = 0
    contrib.eliminate_zeros()
    rows = np.repeat(np.arange(len(users)), np.diff(contrib.indptr))
    rows, cols, _, rank = top_entries_per_row(rows, contrib.indices.astype(np.int64), contrib.data, n)
    # the rating itself: look the kept (user, item) entries up in the raw ratings, pattern-aligned
    stars = (np.asarray(ratings[users[rows], cols]).ravel().astype(np.float32) if rows.size
             else np.zeros(0, dtype=np.float32))
    return rows, cols, stars, rank


def explain(users: np.ndarray, items: np.ndarray, data: Interactions, similarities: list[sp.csr_matrix],
            n: int, show_progress: bool = False) -> Reasons:
    """Reasons for each pair (users[p], items[p]), trying each similarity matrix in turn for pairs still
    unexplained (item-kNN first, then content)."""
    users = np.asarray(users, dtype=np.int64)
    items = np.asarray(items, dtype=np.int64)
    out_items = np.full((users.size, n), -1, dtype=np.int64)
    out_ratings = np.zeros((users.size, n), dtype=np.float32)
    centred, ratings = centred_ratings(data)
    todo = np.arange(users.size)
    for sims in similarities:
        sims = sims.tocsr()
        starts = range(0, todo.size, PAIRS_PER_BATCH)
        if show_progress:
            starts = progress(starts, desc="because", total=len(starts), unit="batch")
        for start in starts:
            pairs = todo[start:start + PAIRS_PER_BATCH]
            rows, cols, stars, rank = _batch(sims, centred, ratings, users[pairs], items[pairs], n)
            out_items[pairs[rows], rank] = cols
            out_ratings[pairs[rows], rank] = stars
        todo = todo[out_items[todo, 0] < 0]
        if not todo.size:
            break
    return Reasons(out_items, out_ratings)
