"""The one interface every model implements, and the dense-index data it works on.

Ids from the files are mapped to dense indices once (Vocabulary); models only ever see
integer arrays and a sparse users x items matrix. Scoring and ranking are separate steps:
a model scores a batch of users against all items; `top_n` ranks, excluding seen items.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from typing import ClassVar, Self

import numpy as np
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict

from latentlens.build.progress import get_logger, progress

log = get_logger(__name__)


class ModelError(RuntimeError):
    """A fit produced something unusable (NaN factors, empty vocabulary, ...)."""


@dataclass(frozen=True)
class Vocabulary:
    """Sorted unique external ids <-> dense indices 0..n-1."""

    ids: np.ndarray  # sorted, unique, int64

    @classmethod
    def from_ids(cls, ids: np.ndarray) -> Vocabulary:
        return cls(np.unique(np.asarray(ids, dtype=np.int64)))

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def index(self, ids: np.ndarray) -> np.ndarray:
        """Dense indices of `ids`; -1 for ids not in the vocabulary."""
        ids = np.asarray(ids, dtype=np.int64)
        pos = np.searchsorted(self.ids, ids)
        pos_clipped = np.minimum(pos, len(self) - 1) if len(self) else pos
        found = (pos < len(self)) & (self.ids[pos_clipped] == ids) if len(self) else np.zeros(ids.shape, bool)
        return np.where(found, pos_clipped, -1).astype(np.int64)

    def to_ids(self, index: np.ndarray) -> np.ndarray:
        return self.ids[np.asarray(index)]


@dataclass(frozen=True)
class Interactions:
    """Ratings as parallel dense-index arrays over fixed user and item vocabularies.

    The item vocabulary is usually the whole catalogue (every movie in movies.csv), so an
    item with no training rating still has an index and content models can score it.
    """

    users: Vocabulary
    items: Vocabulary
    user_idx: np.ndarray   # int32
    item_idx: np.ndarray   # int32
    rating: np.ndarray     # float32
    timestamp: np.ndarray  # int64
    rating_scale: tuple[float, float] = (0.5, 5.0)

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_items(self) -> int:
        return len(self.items)

    @property
    def n_ratings(self) -> int:
        return int(self.rating.shape[0])

    @cached_property
    def matrix(self) -> sp.csr_matrix:
        """users x items explicit ratings (CSR, float32)."""
        return sp.csr_matrix(
            (self.rating.astype(np.float32), (self.user_idx, self.item_idx)),
            shape=(self.n_users, self.n_items),
        )

    @cached_property
    def binary(self) -> sp.csr_matrix:
        """users x items 0/1 implicit matrix (CSR, float32)."""
        m = self.matrix.copy()
        m.data[:] = 1.0
        return m

    def subset(self, mask: np.ndarray) -> Interactions:
        """The same vocabularies, only the rows where mask is true (used by the splitters)."""
        return Interactions(self.users, self.items, self.user_idx[mask], self.item_idx[mask],
                            self.rating[mask], self.timestamp[mask], self.rating_scale)


@dataclass(frozen=True)
class FitContext:
    """Options of one training run: randomness comes from `rng`, never from a global seed."""

    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(42))
    show_progress: bool = True
    n_threads: int = 2


class ModelConfig(BaseModel):
    """Base of every model's settings; `model_dump()` is what goes to mlflow.log_params."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Recommender(ABC):
    """Every model: fit on Interactions, score a batch of users against all items.

    Subclasses implement `fit` and `score_users`; they may implement `similar_items`
    (item-to-item) and, for rating predictors, `predict`.
    """

    name: ClassVar[str]
    predicts_ratings: ClassVar[bool] = False
    has_similar_items: ClassVar[bool] = False
    # Same data and config give the same fitted model whatever the rng: FitCache may share it.
    deterministic: ClassVar[bool] = False

    config: ModelConfig

    @abstractmethod
    def fit(self, data: Interactions, ctx: FitContext) -> Self:
        """Learn from `data`; returns self so `Model(cfg).fit(train, ctx)` reads as a sentence."""

    @abstractmethod
    def score_users(self, users: np.ndarray) -> np.ndarray:
        """Dense (len(users) x n_items) float32 scores; higher is better.

        `users` are dense indices; -1 marks a user unknown to the model, who gets the
        model's cold-start scores (see `cold_scores`).
        """

    def cold_scores(self) -> np.ndarray:
        """Scores for a user the model has never seen: by default item popularity in training."""
        pop = getattr(self, "_item_popularity", None)
        if pop is None:
            raise ModelError(f"{self.name}: not fitted")
        return pop

    def _remember_popularity(self, data: Interactions) -> None:
        self._item_popularity = np.bincount(data.item_idx, minlength=data.n_items).astype(np.float32)

    def fit_key(self) -> str:
        """What besides the data determines a deterministic fit (FitCache's key)."""
        return self.config.model_dump_json()

    def tuned_config(self) -> ModelConfig:
        """The config with what `fit` chose on validation fixed in (the retrain skips the search)."""
        return self.config

    def chosen(self) -> dict:
        """What `fit` chose on validation, for the record (MLflow params, evaluation.json); {} if nothing."""
        return {}

    def candidates(self) -> np.ndarray | None:
        """Sorted item indices `recommend` ranks (None: every item).

        A model that scores only part of the catalogue (EASE's most-rated items) ranks only
        those: at ML-25M that is 8k columns instead of 62k, the bulk of the export's cost.
        """
        return None

    def score_candidates(self, users: np.ndarray) -> np.ndarray:
        """(len(users) x len(candidates())) scores; by default the columns of `score_users`."""
        cand = self.candidates()
        return self.score_users(users) if cand is None else self.score_items(users, cand)

    def score_items(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """(len(users) x len(items)) scores: the `items` columns of `score_users`."""
        return self.score_users(users)[:, items]

    def recommend(
        self, users: np.ndarray, n: int, exclude: sp.csr_matrix | None = None, batch_size: int = 1024,
        n_threads: int = 1, show_progress: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-n item indices and scores for each user among `candidates()`, best first, batched.

        `exclude` is a users x items matrix (rows indexed like `users`' dense indices) whose
        non-zeros are never recommended — normally the training matrix (seen items).
        Rows that run out of candidates are padded with index -1 and score -inf. Batches run
        on `n_threads` threads (partition, sparse products and BLAS release the GIL): the
        export ranks every user, 160 batches at ML-25M.
        """
        users = np.asarray(users, dtype=np.int64)
        cand = self.candidates()
        out_items = np.full((users.shape[0], n), -1, dtype=np.int64)
        out_scores = np.full((users.shape[0], n), -np.inf, dtype=np.float32)

        def rank(start: int) -> None:
            batch = users[start : start + batch_size]
            scores = self.score_candidates(batch)
            seen = exclude_rows(exclude, batch) if exclude is not None else None
            if seen is not None and cand is not None:
                seen = seen[:, cand]
            items, top = top_n(scores, n, seen)
            if cand is not None:
                items = np.where(items >= 0, cand[np.maximum(items, 0)], -1)
            out_items[start : start + len(batch)] = items
            out_scores[start : start + len(batch)] = top

        starts = range(0, users.shape[0], batch_size)
        with ThreadPoolExecutor(max(1, n_threads)) as pool:
            done = pool.map(rank, starts)
            if show_progress:
                done = progress(done, desc=f"{self.name} top-{n}", total=len(starts), unit="batch")
            for _ in done:
                pass
        return out_items, out_scores

    def similar_items(self, items: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-n most similar items to each of `items` (never the item itself)."""
        raise NotImplementedError(f"{self.name} does not compute item similarities")

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Predicted ratings for (user, item) index pairs, clipped to the rating scale."""
        raise NotImplementedError(f"{self.name} does not predict ratings")


def exclude_rows(exclude: sp.csr_matrix, users: np.ndarray) -> sp.csr_matrix:
    """Rows of `exclude` for `users`; unknown users (-1) get an empty row."""
    known = users >= 0
    if known.all():
        return exclude[users]
    rows = sp.lil_matrix((users.shape[0], exclude.shape[1]), dtype=exclude.dtype)
    out = sp.vstack([exclude[users[known]], rows[: (~known).sum()]]).tocsr()
    order = np.concatenate([np.flatnonzero(known), np.flatnonzero(~known)])
    inverse = np.empty_like(order)
    inverse[order] = np.arange(order.shape[0])
    return out[inverse]


def sample_users(data: Interactions, max_users: int | None, rng: np.random.Generator) -> Interactions:
    """All ratings of at most `max_users` users drawn uniformly from those in `data` (all if None).

    Whole users, not a share of each user's ratings: evaluation, the hybrid's validation fit
    and biased_mf's reg search all need each sampled user as dense as in the full data.
    """
    users = np.unique(data.user_idx)
    if max_users is None or users.size <= max_users:
        return data
    keep = np.zeros(data.n_users, dtype=bool)
    keep[rng.choice(users, max_users, replace=False)] = True
    return data.subset(keep[data.user_idx])


def spread_to_catalogue(inner: np.ndarray, candidates: np.ndarray, n_items: int) -> np.ndarray:
    """Candidate scores in full-width rows; every other item just below its row's lowest score,
    finite and ranked last (for models that score only part of the catalogue)."""
    floor = inner.min(axis=1, initial=0.0) - 1.0 if inner.size else np.zeros(inner.shape[0], np.float32)
    scores = np.repeat(floor[:, None].astype(np.float32), n_items, axis=1)
    scores[:, candidates] = inner
    return scores


def top_entries_per_row(rows: np.ndarray, cols: np.ndarray, values: np.ndarray, n: int
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The sparse counterpart of `top_n`: of stored entries (row, col, value), the first `n` of each
    row by value descending, ties by the lower col. Returns (rows, cols, values, rank) of the kept
    entries, by row then rank. Sorts the entries alone, never a dense rows x cols block."""
    order = np.lexsort((cols, -values, rows))
    rows, cols, values = rows[order], cols[order], values[order]
    rank = np.arange(rows.size) - np.searchsorted(rows, rows)
    keep = rank < n
    return rows[keep], cols[keep], values[keep], rank[keep]


TOP_N_ROWS = 16  # rows ranked at a time: a 16 x 62k float32 block (4 MB) stays in cache


def top_n(scores: np.ndarray, n: int, seen: sp.csr_matrix | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Rank a (batch x items) score block: indices and scores of the n best per row, best first.

    Items in `seen` (same shape, non-zero = excluded) and non-finite scores are never chosen.
    Ties break by the lower item index, so results are deterministic. Per block of rows: the
    n-th best value by np.partition (values only: argpartition's int64 index array of the
    whole block cost 5x more at 62k items), then a sort of the entries above it and of the
    lowest-index ties at it that still fit.
    Rows that run out of candidates are padded with -1 / -inf.
    """
    scores = np.asarray(scores)
    batch, n_items = scores.shape
    items = np.full((batch, max(n, 0)), -1, dtype=np.int64)
    top = np.full((batch, max(n, 0)), -np.inf, dtype=np.float32)
    if n <= 0 or n_items == 0:
        return items, top
    k = min(n, n_items)
    if seen is not None:
        seen = seen.tocsr()
        seen_rows = np.repeat(np.arange(batch), np.diff(seen.indptr))
    for r0 in range(0, batch, TOP_N_ROWS):
        r1 = min(r0 + TOP_N_ROWS, batch)
        block = np.array(scores[r0:r1], dtype=np.float32, copy=True)
        block[~np.isfinite(block)] = -np.inf
        if seen is not None:
            lo, hi = seen.indptr[r0], seen.indptr[r1]
            block[seen_rows[lo:hi] - r0, seen.indices[lo:hi]] = -np.inf
        # the k-th largest as the k-th smallest of the negation: numpy's introselect is fast for a
        # small kth even when most values are equal, 25x slower for kth = n - k (measured, 62k zeros)
        kth = -np.partition(-block, k - 1, axis=1)[:, k - 1]
        floor = np.where(kth > -np.inf, kth, np.finfo(np.float32).min)  # -inf is never chosen
        rows, cols = np.nonzero(block >= floor[:, None])
        counts = np.bincount(rows, minlength=r1 - r0)
        if (counts > k).any():  # ties at the cut: keep the lowest-index ones that fit
            at_cut = block[rows, cols] == kth[rows]
            first = np.searchsorted(rows, np.arange(r1 - r0))
            tie_rank = np.cumsum(at_cut) - 1
            tie_rank -= np.concatenate([[0], np.cumsum(at_cut)])[first][rows]
            need = k - (counts - np.bincount(rows, weights=at_cut, minlength=r1 - r0).astype(np.int64))
            keep = ~at_cut | (tie_rank < need[rows])
            rows, cols = rows[keep], cols[keep]
        values = block[rows, cols]
        order = np.lexsort((cols, -values, rows))
        rows, cols, values = rows[order], cols[order], values[order]
        rank = np.arange(rows.size) - np.searchsorted(rows, np.arange(r1 - r0))[rows]
        keep = rank < k
        items[r0 + rows[keep], rank[keep]] = cols[keep]
        top[r0 + rows[keep], rank[keep]] = values[keep]
    return items, top


class FitCache:
    """Fits of deterministic models shared within one build, keyed by model, config and data.

    The hybrid's EASE and content components are the very models evaluated on their own a
    moment earlier (and retrained for the export): at ML-25M each EASE fit is over a minute.
    The data object is held with its entry, so its id() cannot be reused by another object.
    """

    def __init__(self) -> None:
        self._fits: dict[tuple[str, str, int], tuple[Interactions, Recommender]] = {}
        self._memo: dict[tuple, tuple[object, object]] = {}

    def fit(self, model: Recommender, data: Interactions, ctx: FitContext) -> Recommender:
        if not type(model).deterministic:
            return model.fit(data, ctx)
        key = (type(model).__name__, model.fit_key(), id(data))
        hit = self._fits.get(key)
        if hit is None:
            hit = self._fits[key] = (data, model.fit(data, ctx))
        else:
            log.info("%s: reusing the fit on the same data", model.name)
        return hit[1]

    def memo(self, key: tuple, owner: object, compute: Callable[[], object]) -> object:
        """A value computed once per (key, owner) for the build: data-independent parts of a fit,
        such as content similarities, which depend on the item features alone."""
        full_key = (*key, id(owner))
        hit = self._memo.get(full_key)
        if hit is None:
            hit = self._memo[full_key] = (owner, compute())
        return hit[1]

    def forget(self, data: Interactions) -> None:
        """Drop the fits on `data` (the evaluation's train split, once every model is evaluated)."""
        self._fits = {k: v for k, v in self._fits.items() if v[0] is not data}
