"""Why a movie is on a user's list: the user's rated movies that contributed most, for any champion.

The explanation is model-agnostic, so it reads the same whichever model ranked the list: for a
recommended movie j and each movie i the user rated, contribution = sim(j, i) x (rating - the
user's mean rating), with sim item-kNN's stored neighbour similarity (row j of its neighbour
matrix, the very sum item-kNN scores j by). Where no item-kNN neighbour contributes a positive
amount, content similarity is asked instead. The BECAUSE_N largest positive contributions are kept.

A pick that follows one of the user's latest ratings (in that rating's next-movies list) is explained by that
rating first, a "recent" reason (`recent_reasons`, `with_recent`), the similarity reasons after it.

Vectorised per block of users: their centred ratings as one dense block, gathered at every
stored neighbour of every pair's movie, then one sparse top-n of the positive products per pair.
Memory is bounded by the block, never users x items.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from latentlens.build.interactions import Histories, Interactions
from latentlens.build.progress import progress

USERS_PER_BLOCK = 256  # a dense block of 256 users x 62k movies is 64 MB of float32


@dataclass(frozen=True)
class Reasons:
    """Per (user, movie) pair, up to n explaining items (dense indices, -1 padded) and the user's ratings;
    `recent` marks the entries that are "recent" reasons (None: none is)."""

    items: np.ndarray    # (pairs, n) int64
    ratings: np.ndarray  # (pairs, n) float32
    recent: np.ndarray | None = None  # (pairs, n) bool


def user_means(data: Interactions) -> np.ndarray:
    counts = np.bincount(data.user_idx, minlength=data.n_users)
    sums = np.bincount(data.user_idx, weights=data.rating, minlength=data.n_users)
    return np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)


def explain(users: np.ndarray, items: np.ndarray, data: Interactions, similarities: list[sp.csr_matrix],
            n: int, show_progress: bool = False) -> Reasons:
    """Reasons for each pair (users[p], items[p]), trying each similarity matrix in turn for pairs still
    unexplained (item-kNN first, then content).

    Pairs are taken a block of users at a time: the block's centred ratings as a dense
    (users x items) array, so each stored similarity of a pair's movie is matched with the user's
    rating of that neighbour by one numpy gather (0 where unrated), and only the positive products
    are ranked."""
    users = np.asarray(users, dtype=np.int64)
    items = np.asarray(items, dtype=np.int64)
    out_items = np.full((users.size, n), -1, dtype=np.int64)
    out_ratings = np.zeros((users.size, n), dtype=np.float32)
    means = user_means(data).astype(np.float32)
    ratings = data.matrix
    sims = [m.tocsr() for m in similarities]
    sims = [m if m.has_sorted_indices else m.sorted_indices() for m in sims]
    order = np.argsort(users, kind="stable")
    block_of = users[order] // USERS_PER_BLOCK
    bounds = np.searchsorted(block_of, np.arange(block_of[-1] + 2)) if users.size else np.zeros(1, np.int64)
    blocks = progress(range(bounds.size - 1), desc="because", show=show_progress, total=bounds.size - 1, unit="block")
    # two dense (block users x items) buffers, zero but where the block's users rated: filled from
    # the block's stored ratings and zeroed again after it, so each block costs its ratings, not
    # a pass over 256 x 62k cells (densify, subtract, mask: 70% of the time at ML-25M)
    block = np.zeros((min(USERS_PER_BLOCK, max(data.n_users, 1)), data.n_items), dtype=np.float32)  # raw stars
    centred = np.zeros_like(block)
    for b in blocks:
        pairs = order[bounds[b]:bounds[b + 1]]
        if not pairs.size:
            continue
        first = b * USERS_PER_BLOCK
        stop = min(first + USERS_PER_BLOCK, data.n_users)
        lo, hi = ratings.indptr[first], ratings.indptr[stop]
        local = np.repeat(np.arange(stop - first), np.diff(ratings.indptr[first:stop + 1]))
        cols, stars = ratings.indices[lo:hi], ratings.data[lo:hi]
        block[local, cols] = stars
        centred[local, cols] = np.where(stars > 0, stars - means[first + local], 0)
        todo = pairs
        for matrix in sims:
            rows, picked, picked_stars, rank = _block(matrix, centred, block, users[todo] - first, items[todo], n)
            out_items[todo[rows], rank] = picked
            out_ratings[todo[rows], rank] = picked_stars
            todo = todo[out_items[todo, 0] < 0]
            if not todo.size:
                break
        block[local, cols] = 0
        centred[local, cols] = 0
    return Reasons(out_items, out_ratings)


def _block(similarities: sp.csr_matrix, centred: np.ndarray, stars: np.ndarray, local_users: np.ndarray,
           items: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(pair, rated item, rating, rank) of the n largest positive contributions of each pair."""
    neighbours = similarities[items]
    pair_of = np.repeat(np.arange(items.size), np.diff(neighbours.indptr))
    user_of = local_users[pair_of]
    contrib = neighbours.data * centred[user_of, neighbours.indices]
    keep = contrib > 0
    rows, cols, rank = top_in_runs(pair_of[keep], neighbours.indices[keep].astype(np.int64), contrib[keep], n)
    return rows, cols, stars[local_users[rows], cols], rank


def top_in_runs(rows: np.ndarray, cols: np.ndarray, values: np.ndarray,
                n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The n largest values of each run of equal `rows` (rows ascending, cols ascending within a run),
    ties by the lower col: n passes of a segmented max instead of sorting every entry (a lexsort of
    all entries was 70% of the time). Returns (row, col, rank) of the kept entries."""
    if not rows.size:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    run_of = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, rows.size]))
    values = values.astype(np.float64, copy=True)
    picked_rows, picked_cols, picked_rank = [], [], []
    for rank in range(n):
        best = np.maximum.reduceat(values, starts)
        alive = np.isfinite(best)
        if not alive.any():
            break
        hit = (values == best[run_of]) & np.isfinite(values)
        first = np.full(starts.size, -1, dtype=np.int64)
        positions = np.flatnonzero(hit)
        first[run_of[positions[::-1]]] = positions[::-1]  # the lowest position (lowest col) wins
        chosen = first[alive & (first >= 0)]
        picked_rows.append(rows[chosen])
        picked_cols.append(cols[chosen])
        picked_rank.append(np.full(chosen.size, rank, dtype=np.int64))
        values[chosen] = -np.inf
    return np.concatenate(picked_rows), np.concatenate(picked_cols), np.concatenate(picked_rank)


def latest_rated(histories: Histories, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Each user's n latest rated items (latest first, -1 padded) and their ratings: histories' age is the
    order rule's (timestamp, ties by position in the ratings file; interactions.ages)."""
    age = histories.age.tocsr()
    rows = np.repeat(np.arange(age.shape[0]), np.diff(age.indptr))
    slot = age.data.astype(np.int64) - 1  # 0: the latest
    keep = slot < n
    items = np.full((age.shape[0], n), -1, dtype=np.int64)
    stars = np.zeros((age.shape[0], n), dtype=np.float32)
    items[rows[keep], slot[keep]] = age.indices[keep]
    ratings = histories.ratings.tocsr()  # the same entries in the same order (Interactions.histories)
    stars[rows[keep], slot[keep]] = ratings.data[keep]
    return items, stars


def recent_reasons(users: np.ndarray, items: np.ndarray, histories: Histories, next_idx: np.ndarray,
                   recent_n: int) -> tuple[np.ndarray, np.ndarray]:
    """For each pair (users[p], items[p]): the latest of the user's recent_n latest ratings that is above the
    user's mean (as every similarity reason is: a disliked movie explains nothing) and whose next-movies list
    (row of `next_idx`, catalogue indices, -1 padded) holds the pair's movie, and its rating; -1 and 0 where
    none does. One sorted key array of (movie, next movie) pairs, searched once per recent slot."""
    n_items = next_idx.shape[0]
    src, pos = np.nonzero(next_idx >= 0)
    keys = np.unique(src.astype(np.int64) * n_items + next_idx[src, pos])
    latest, stars = latest_rated(histories, recent_n)
    users, items = np.asarray(users, dtype=np.int64), np.asarray(items, dtype=np.int64)
    found = np.full(users.size, -1, dtype=np.int64)
    rating = np.zeros(users.size, dtype=np.float32)
    liked = stars > histories.mean[:, None]
    for slot in range(recent_n):
        cand = latest[users, slot]
        wanted = np.flatnonzero((found < 0) & (cand >= 0) & liked[users, slot])
        key = cand[wanted] * n_items + items[wanted]
        at = np.minimum(np.searchsorted(keys, key), max(keys.size - 1, 0))
        hit = wanted[keys[at] == key] if keys.size else wanted[:0]
        found[hit], rating[hit] = cand[hit], stars[users[hit], slot]
    return found, rating


def with_recent(reasons: Reasons, recent: np.ndarray, ratings: np.ndarray) -> Reasons:
    """`reasons` with each pair's recent item (>= 0) first, marked recent, and its similarity reasons after
    it (that item not twice), still n per pair."""
    n = reasons.items.shape[1]
    has = recent >= 0
    items = np.concatenate([np.where(has, recent, -1)[:, None], reasons.items], axis=1)
    items[:, 1:][items[:, 1:] == recent[:, None]] = -1  # recent >= 0 here or the column is -1 anyway
    stars = np.concatenate([ratings[:, None], reasons.ratings], axis=1)
    flags = np.zeros(items.shape, dtype=bool)
    flags[:, 0] = has
    order = np.argsort(items < 0, axis=1, kind="stable")[:, :n]  # the kept entries first, in their order
    items = np.take_along_axis(items, order, axis=1)
    return Reasons(items, np.where(items >= 0, np.take_along_axis(stars, order, axis=1), 0).astype(np.float32),
                   np.take_along_axis(flags, order, axis=1))
