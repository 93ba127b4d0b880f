"""Item-to-next-item transitions from time-ordered histories: what people rate after what they just rated.

Closed form, after SLIT (Choi et al. 2021, "Session-aware linear item-item models"): every position t
of a user's history is one regression row, from the items rated up to t (recent ones weighted more)
to the items rated next; B = (XᵀX + λI)⁻¹ XᵀY over the most-rated items, like EASE's inverse. A user's
scores are their latest ratings, weighted the same way, times B. XᵀY itself is the distance-weighted
transition count, kept (normalised) as each movie's "rated next" list.

The order rule is the build's everywhere: by timestamp, ties by position in the ratings file (the order
of the Interactions arrays), so two ratings of one second keep the order they were written in.
"""

from __future__ import annotations

from typing import ClassVar, Self

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from latentlens.build.interactions import Histories, Interactions
from latentlens.build.models.base import FitContext, ModelConfig, ModelError, Recommender
from latentlens.build.models.ease import ridge_inverse
from latentlens.build.models.spec import NEXT_MOVIES, ModelInputs, ModelSpec
from latentlens.build.progress import get_logger

log = get_logger(__name__)


class TransitionsConfig(ModelConfig):
    # Chosen on ml-latest-small's validation split carved from training (bench/tune_transitions.py, 24 settings:
    # validation NDCG@10 0.117, test 0.114). Longer windows and slower decay score higher alone (20, 0.9, λ 500:
    # 0.131) but lower inside the hybrid (its validation 0.158 against 0.160): they drift towards EASE's set view.
    source_window: int = Field(10, ge=1)   # the latest ratings up to position t that predict what follows
    target_window: int = Field(3, ge=1)    # the ratings after t it predicts
    decay: float = Field(0.8, gt=0, le=1)  # a rating d steps from t weighs decay^d (target: decay^(d-1))
    l2: float = Field(200.0, gt=0)         # ridge strength λ
    # a profile rating weighs max(0, 1 + a·(rating - user mean)), as EASE's; 0 chosen on ml-latest-small's
    # validation split (0.104 against 0.101 at 1): what was rated next matters more than how it was rated
    rating_weight: float = Field(0.0, ge=0)
    # the most-rated items in the dense inverse: on ml-latest-small's validation split 2,000, 3,000, 5,000 and
    # 20,000 scored 0.1042, 0.1047, 0.1043, 0.1042 at fit times 2, 5, 9, 22 s: what follows what is a head matter
    max_items: int = Field(3_000, ge=1)


def time_order(data: Interactions) -> np.ndarray:
    """Indices of `data`'s ratings by user, then timestamp, then file position (a stable sort)."""
    by_time = np.argsort(data.timestamp, kind="stable")
    return by_time[np.argsort(data.user_idx[by_time], kind="stable")]


def sequence_rows(users: np.ndarray, items: np.ndarray, n_items: int, config: TransitionsConfig
                  ) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """(X, Y), one row per position that has a next rating: X the decayed latest items up to it, Y the
    decayed items after it. `users`, `items`: time-ordered (time_order), items in 0..n_items-1 or -1 (left out)."""
    n = users.shape[0]
    has_next = np.zeros(n, dtype=bool)
    has_next[:-1] = users[:-1] == users[1:]
    positions = np.flatnonzero(has_next)
    row_of = np.full(n, -1, dtype=np.int64)
    row_of[positions] = np.arange(positions.size)

    def entries(lags: range, weight_of) -> sp.csr_matrix:
        rows, cols, vals = [], [], []
        for lag in lags:
            src = positions[(positions + lag >= 0) & (positions + lag < n)]
            other = src + lag
            keep = (users[other] == users[src]) & (items[other] >= 0)
            rows.append(row_of[src[keep]])
            cols.append(items[other[keep]])
            vals.append(np.full(int(keep.sum()), weight_of(abs(lag)), dtype=np.float32))
        matrix = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                               shape=(positions.size, n_items))
        matrix.sum_duplicates()
        return matrix

    x = entries(range(0, -config.source_window, -1), lambda d: config.decay ** d)
    y = entries(range(1, config.target_window + 1), lambda d: config.decay ** (d - 1))
    return x, y


def gram_and_counts(users: np.ndarray, items: np.ndarray, n_items: int, config: TransitionsConfig, dtype: type,
                    block_ratings: int = 1_000_000) -> tuple[np.ndarray, sp.csr_matrix]:
    """XᵀX (dense) and XᵀY (sparse: the decayed transition counts) accumulated over blocks of whole users'
    histories, so memory is one block's regression rows, never all of them (125M entries at ML-25M)."""
    n = users.shape[0]
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])  # each user's first position
    first = np.searchsorted(starts, np.arange(0, n, block_ratings))  # the first user starting at or after
    cuts = np.unique(np.r_[np.where(first < starts.size, starts[np.minimum(first, starts.size - 1)], n), n])
    g: np.ndarray = np.zeros((n_items, n_items), dtype=dtype)
    counts = sp.csr_matrix((n_items, n_items), dtype=np.float32)
    for a, b in zip(cuts[:-1], cuts[1:], strict=True):
        x, y = sequence_rows(users[a:b], items[a:b], n_items, config)
        g += (x.T @ x).toarray()
        counts = counts + (x.T @ y).tocsr()
    return g, counts


def ridge_weights(inverse: np.ndarray, counts: sp.csr_matrix) -> np.ndarray:
    """B = P·XᵀY. Sparse XᵀY (few transitions per movie): (XᵀY)ᵀ·P, nnz·n flops on one thread; dense enough
    (at 5M ratings over 3,000 movies a third of the pairs occur): one multi-threaded BLAS product, n³ flops."""
    n = inverse.shape[0]
    if counts.nnz * 8 > n * n:
        return np.asarray(inverse @ counts.toarray().astype(inverse.dtype), dtype=np.float32)
    return np.ascontiguousarray((counts.T.tocsr() @ inverse).T, dtype=np.float32)


def most_rated(data: Interactions, max_items: int) -> np.ndarray:
    """Sorted indices of the `max_items` most-rated items (ties by lower index), as EASE keeps them."""
    counts = np.bincount(data.item_idx, minlength=data.n_items)
    rated = np.flatnonzero(counts > 0)
    if rated.size > max_items:
        rated = np.sort(rated[np.lexsort((rated, -counts[rated]))[:max_items]])
    return rated.astype(np.int64)


def normalised_next(counts: sp.csr_matrix) -> sp.csr_matrix:
    """Transition counts with each row divided by its square-rooted total and each column by the fourth root
    of its own: a frequent movie's followers are spread thin, and the most-rated movies do not follow everything."""
    row_total = np.asarray(counts.sum(axis=1)).ravel()
    col_total = np.asarray(counts.sum(axis=0)).ravel()
    row_scale = np.where(row_total > 0, 1.0 / np.sqrt(np.maximum(row_total, 1e-12)), 0.0)
    col_scale = np.where(col_total > 0, np.power(np.maximum(col_total, 1e-12), -0.25), 0.0)
    out = sp.csr_matrix(sp.diags(row_scale.astype(np.float32)) @ counts @ sp.diags(col_scale.astype(np.float32)))
    out.setdiag(0)
    out.eliminate_zeros()
    return out.astype(np.float32)


class Transitions(Recommender[TransitionsConfig]):
    """What followed the user's latest ratings in other people's histories: order-aware where EASE,
    item-kNN and the factor models see a history as a set."""

    name: ClassVar[str] = "transitions"
    deterministic: ClassVar[bool] = True
    item_side: ClassVar[bool] = True

    def __init__(self, config: TransitionsConfig | None = None) -> None:
        self.config = config or TransitionsConfig()

    def fit(self, data: Interactions, ctx: FitContext) -> Self:
        self.items_ = most_rated(data, self.config.max_items)
        if self.items_.size == 0:
            raise ModelError("transitions: no ratings")
        local = np.full(data.n_items, -1, dtype=np.int64)
        local[self.items_] = np.arange(self.items_.size)
        order = time_order(data)
        dtype = np.float64 if self.items_.size <= 5_000 else np.float32  # as EASE: float32 halves the inverse
        g, counts = gram_and_counts(data.user_idx[order], local[data.item_idx[order]], self.items_.size,
                                    self.config, dtype)
        log.info("transitions: %d items, %d transition pairs, inverse", self.items_.size, counts.nnz)
        inverse = ridge_inverse(g, self.config.l2, "transitions")
        self.weights_ = ridge_weights(inverse, counts)
        del inverse
        if not np.isfinite(self.weights_).all():
            raise ModelError("transitions: weights are not finite")
        self.next_ = normalised_next(counts)
        self.n_items_ = data.n_items
        self._remember_popularity(data)
        return self

    def profiles(self, histories: Histories) -> sp.csr_matrix:
        """Each user's latest source_window ratings, decayed by age as the regression rows were, and weighted
        by how much the user liked each (a movie rated far below their mean says little about what is next)."""
        age = histories.age.data - 1  # 0: the latest
        liking = 1.0 + self.config.rating_weight * (histories.ratings.data - histories.mean[histories.entry_rows()])
        weights = np.where(age < self.config.source_window, np.power(self.config.decay, age), 0.0)
        weights = weights * np.maximum(liking, 0.0)
        rows = histories.with_values(weights.astype(np.float32))[:, self.items_].tocsr()
        rows.eliminate_zeros()
        return rows

    def candidates(self) -> np.ndarray:
        return self.items_

    def score_candidates(self, users: np.ndarray, histories: Histories) -> np.ndarray:
        users = np.asarray(users, dtype=np.int64)
        scores = np.asarray(self.profiles(histories) @ self.weights_, dtype=np.float32)
        scores[users < 0] = self.cold_scores()[self.items_]
        return scores

    def score_users(self, users: np.ndarray, histories: Histories) -> np.ndarray:
        """Scores of every item; those outside the kept ones score 0, no evidence either way (`recommend` ranks
        the kept ones only, and a blend such as the hybrid's z-scores wants no artificial floor)."""
        users = np.asarray(users, dtype=np.int64)
        scores = np.zeros((users.shape[0], self.n_items_), dtype=np.float32)
        scores[:, self.items_] = self.score_candidates(users, histories)
        scores[users < 0] = self.cold_scores()
        return scores

    def next_items(self, items: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The top-n movies rated next after each of `items` (catalogue indices), by normalised count;
        -1 where fewer followed."""
        from latentlens.build.models.itemknn import sparse_rows_top_n

        local = np.full(self.n_items_, -1, dtype=np.int64)
        local[self.items_] = np.arange(self.items_.size)
        inner = local[np.asarray(items, dtype=np.int64)]
        idx, scores = sparse_rows_top_n(self.next_, np.maximum(inner, 0), n)
        idx = np.where((idx >= 0) & (inner[:, None] >= 0), self.items_[np.maximum(idx, 0)], -1)
        return idx, np.where(idx >= 0, scores, 0.0).astype(np.float32)


def model_for(inputs: ModelInputs) -> Transitions:
    """2,000 items for `--quick`; the default 3,000 at every scale (one dense inverse over them: the cost of
    the rest is linear in the ratings)."""
    return Transitions(TransitionsConfig(max_items=2_000) if inputs.quick else TransitionsConfig())


SPEC = ModelSpec("transitions", model_for,
                 description="item-to-next-item transitions of time-ordered histories (SLIT-style closed form)",
                 roles=frozenset({NEXT_MOVIES}))
