"""Ratings as dense-index arrays (Interactions) over id vocabularies, made once from the loader's tables."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from latentlens.build.data.tables import MovieLensData


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


def fingerprint(*arrays: np.ndarray) -> str:
    """A blake2b digest of arrays' dtypes, shapes and bytes, in order."""
    import hashlib

    digest = hashlib.blake2b(digest_size=16)
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape};".encode())
        digest.update(array.tobytes() if array.ndim == 0 else array.view(np.uint8).reshape(-1).data)
    return digest.hexdigest()


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
    def fingerprint(self) -> str:
        """A digest of the vocabularies and every rating: equal for equal data whichever object holds
        it (FitCache's key; ~1 GB/s, computed once per object)."""
        return fingerprint(self.users.ids, self.items.ids, self.user_idx, self.item_idx, self.rating, self.timestamp,
                           np.asarray(self.rating_scale, dtype=np.float64))

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

    @cached_property
    def histories(self) -> Histories:
        """Every user's history, row u for user index u: what models score at call time."""
        ratings = self.matrix
        if ratings.nnz != self.n_ratings:
            raise ValueError("a user rated the same item twice: histories need one rating per (user, item)")
        canonical = np.lexsort((self.item_idx, self.user_idx))  # the CSR's entry order
        age = ages(self.user_idx, self.timestamp, self.n_users)[canonical] + 1
        counts = np.bincount(self.user_idx, minlength=self.n_users)
        sums = np.bincount(self.user_idx, weights=self.rating, minlength=self.n_users)  # in the ratings' order
        mean = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
        return Histories(ratings, sp.csr_matrix((age, ratings.indices, ratings.indptr), shape=ratings.shape), mean)

    def release_matrices(self) -> None:
        """Drop the cached `matrix`, `binary` and `histories` (rebuilt on next use): a stage done with a
        split frees them (at ML-25M ~0.4 GB each that would otherwise live through the export)."""
        for name in ("matrix", "binary", "histories"):
            self.__dict__.pop(name, None)

    def subset(self, mask: np.ndarray) -> Interactions:
        """The same vocabularies, only the rows where mask is true (used by the splitters)."""
        return Interactions(self.users, self.items, self.user_idx[mask], self.item_idx[mask],
                            self.rating[mask], self.timestamp[mask], self.rating_scale)


def take_rows(matrix: sp.csr_matrix, rows: np.ndarray) -> sp.csr_matrix:
    """Rows of a CSR matrix, each row's entries in their stored order; -1 gives an empty row."""
    known = rows >= 0
    if known.all():
        return matrix[rows]
    empty = sp.csr_matrix((int((~known).sum()), matrix.shape[1]), dtype=matrix.dtype)
    out = sp.vstack([matrix[rows[known]], empty]).tocsr()
    order = np.concatenate([np.flatnonzero(known), np.flatnonzero(~known)])
    inverse = np.empty_like(order)
    inverse[order] = np.arange(order.shape[0])
    return out[inverse]


def ages(user_idx: np.ndarray, timestamp: np.ndarray, n_users: int) -> np.ndarray:
    """Each rating's age in its user's own ratings, newest 0: recency counted in ratings, so it works the same
    for a user who rated for years and one who rated in one evening; equal timestamps keep file order."""
    n = user_idx.shape[0]
    counts = np.bincount(user_idx, minlength=n_users)
    order = np.lexsort((np.arange(n), timestamp, user_idx))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - starts[user_idx[order]]
    return counts[user_idx] - 1 - rank


@dataclass(frozen=True)
class Histories:
    """The rated items of a batch of users, one row per user of the batch: what a model scores at call time
    (implicit's `recommend(userid, user_items)`, LensKit's query history), so an item-side fit needs no copy
    of its training users. `ratings`: the ratings (CSR, float32). `age`: the same entries' age in the user's
    own ratings plus 1 (newest 1: no entry is a sparse zero). `mean`: each user's mean rating, summed in the
    ratings' order (what the models centre by). A user unknown to the data (-1) has an empty row."""

    ratings: sp.csr_matrix
    age: sp.csr_matrix
    mean: np.ndarray

    @property
    def n_users(self) -> int:
        return int(self.ratings.shape[0])

    @property
    def counts(self) -> np.ndarray:
        """Ratings per row."""
        return np.diff(self.ratings.indptr)

    def entry_rows(self) -> np.ndarray:
        """The row of each stored entry (aligned with `ratings.data`)."""
        return np.repeat(np.arange(self.n_users), self.counts)

    def rows(self, users: np.ndarray) -> Histories:
        """The histories of `users` (row indices of this object; -1: an empty row), aligned with `users`."""
        users = np.asarray(users, dtype=np.int64)
        known = users >= 0
        mean = np.where(known, self.mean[np.maximum(users, 0)], 0.0)
        return Histories(take_rows(self.ratings, users), take_rows(self.age, users), mean)

    def with_values(self, values: np.ndarray) -> sp.csr_matrix:
        """A users x items CSR with these entries and `values` (aligned with `ratings.data`) as their values;
        its own copy of the structure, so in-place changes (eliminate_zeros) leave the histories alone."""
        return sp.csr_matrix((values, self.ratings.indices.copy(), self.ratings.indptr.copy()),
                             shape=self.ratings.shape)


def to_interactions(data: MovieLensData) -> Interactions:
    """Users are those who rated; items are the whole catalogue (rated or not) so content
    models can score and export every movie."""
    r = data.ratings
    users = Vocabulary.from_ids(r["user_id"].to_numpy())
    items = Vocabulary.from_ids(np.concatenate([data.movies["movie_id"].to_numpy(), r["movie_id"].to_numpy()]))
    return Interactions(
        users=users,
        items=items,
        user_idx=users.index(r["user_id"].to_numpy()).astype(np.int32),
        item_idx=items.index(r["movie_id"].to_numpy()).astype(np.int32),
        rating=r["rating"].to_numpy().astype(np.float32),
        timestamp=r["timestamp"].to_numpy().astype(np.int64),
        rating_scale=(float(data.rating_scale[0]), float(data.rating_scale[1])),
    )
