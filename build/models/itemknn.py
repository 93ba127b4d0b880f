"""Item-item k-nearest-neighbours by cosine, brute force on the sparse item-user matrix.

Similarities are computed a chunk of items at a time (chunk x all items, sparse product
made dense for the chunk only) and only the k best per item are kept, so memory is
O(items x k), never items x items. A user's score for item j is the sum of the similarities
between j and those of j's k neighbours the user rated (LensKit's choice; summing the
neighbour lists of the rated items instead scored 0.079 vs 0.090 NDCG@10 on ml-latest-small):
one sparse product, user rows x transposed neighbour matrix.
`top_k_neighbours` and `sparse_rows_top_n` are shared with the content model.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ClassVar, Literal, Self

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from latentlens.build.interactions import Histories, Interactions
from latentlens.build.models.base import FitContext, ModelConfig, ModelError, Recommender
from latentlens.build.models.ranking import top_entries_per_row, top_n
from latentlens.build.models.spec import SIMILAR_MOVIES, ModelInputs, ModelSpec
from latentlens.build.progress import get_logger, progress

log = get_logger(__name__)

# Floats of one dense chunk of similarities (128 MB in float32): ~540 items per chunk at
# ML-25M's 62k items.
CHUNK_BUDGET = 1 << 25

# Up to this inner dimension a chunk's product is a dense BLAS product: the output is dense
# anyway (every pair of movies shares a feature), and for the 62k x 85 content features of
# synthetic ML-25M scipy's sparse product took 0.93 s a chunk, BLAS 0.08 s. Item-kNN's inner
# dimension is the users (162k): it stays sparse.
DENSE_INNER_MAX = 512

Transform = Callable[[np.ndarray, int, int], np.ndarray]


def top_k_neighbours(
    left: sp.csr_matrix, right: sp.spmatrix, k: int, transform: Transform | None = None,
    exclude_self: bool = True, desc: str = "neighbours", show_progress: bool = True, n_threads: int = 1,
) -> sp.csr_matrix:
    """Keep the k largest positive entries of each row of `left @ right`, chunk by chunk.

    `transform(block, start, stop)` may rescale the dense block of rows start:stop (cosine
    normalisation, shrinkage, exponents) before selection. With `exclude_self` the product
    is square and an item is never its own neighbour. Chunks run on `n_threads` threads
    (the selection, ranking.top_n's partition, releases the GIL). Returns a float32 CSR matrix.
    """
    n, m = left.shape[0], right.shape[1]
    if exclude_self and n != m:
        raise ValueError("exclude_self needs a square product")
    kk = min(k, m)
    chunk = max(1, CHUNK_BUDGET // max(m, 1))
    dense = left.shape[1] <= DENSE_INNER_MAX
    right = right.toarray().astype(np.float32, copy=False) if dense else right.tocsr()

    def select(start: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        stop = min(start + chunk, n)
        if dense:
            block = left[start:stop].toarray().astype(np.float32, copy=False) @ right
        else:
            block = (left[start:stop] @ right).toarray().astype(np.float32, copy=False)
        if transform is not None:
            block = transform(block, start, stop)
        if exclude_self:
            block[np.arange(stop - start), np.arange(start, stop)] = -np.inf
        # only positive similarities are kept: dropping the rest first leaves top_n no crowd of
        # tied zeros to sort (most item pairs share no rater)
        block[block <= 0] = -np.inf
        idx, val = top_n(block, kk)
        keep = (idx >= 0) & np.isfinite(val) & (val > 0)
        rows = np.broadcast_to(np.arange(start, stop)[:, None], idx.shape)
        return rows[keep], idx[keep], val[keep]

    starts = range(0, n, chunk)
    with ThreadPoolExecutor(max(1, n_threads)) as pool:
        results = pool.map(select, starts)
        results = progress(results, desc=desc, show=show_progress, total=len(starts), unit="chunk")
        rows_out, cols_out, vals_out = zip(*results, strict=True) if len(starts) else ((), (), ())
    out = sp.csr_matrix(
        (np.concatenate(vals_out) if vals_out else np.zeros(0, np.float32),
         (np.concatenate(rows_out) if rows_out else np.zeros(0, np.int64),
          np.concatenate(cols_out) if cols_out else np.zeros(0, np.int64))),
        shape=(n, m), dtype=np.float32,
    )
    if not np.isfinite(out.data).all():
        raise ModelError("neighbour similarities are not finite")
    return out


def sparse_rows_top_n(matrix: sp.csr_matrix, rows: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-n stored entries of each of `rows` (absent entries are never chosen), -1 padded.

    Sorts the stored entries only (rows x k), never a dense rows x items block: densifying
    all 62k rows of an ML-25M neighbour matrix would take 15 GB. Same order as `top_n`:
    score descending, ties by the lower item index.
    """
    sub = matrix[np.asarray(rows, dtype=np.int64)].tocsr()
    n_rows = sub.shape[0]
    items = np.full((n_rows, max(n, 0)), -1, dtype=np.int64)
    scores = np.full((n_rows, max(n, 0)), -np.inf, dtype=np.float32)
    if n <= 0 or sub.nnz == 0:
        return items, scores
    row_of = np.repeat(np.arange(n_rows), np.diff(sub.indptr))
    values = sub.data.astype(np.float32, copy=False)
    keep = np.isfinite(values)
    row_of, cols, values, rank = top_entries_per_row(row_of[keep], sub.indices[keep].astype(np.int64), values[keep], n)
    items[row_of, rank] = cols
    scores[row_of, rank] = values
    return items, scores


def column_norms(x: sp.csr_matrix) -> np.ndarray:
    return np.sqrt(np.asarray(x.multiply(x).sum(axis=0)).ravel()).astype(np.float32)


def cosine_transform(norms: np.ndarray, shrinkage: float = 0.0) -> Transform:
    """Turn a block of dot products into cosines, optionally shrunk: dot / (|a||b| + shrinkage)."""
    def transform(block: np.ndarray, start: int, stop: int) -> np.ndarray:
        # in place, unmasked: a zero denominator only meets a zero dot product (an empty item),
        # which the floor turns into 0 / tiny = 0 (a masked divide into a new block took 1.6x as long)
        denom = np.multiply.outer(norms[start:stop], norms)
        denom += np.float32(shrinkage)
        np.maximum(denom, np.finfo(np.float32).tiny, out=denom)
        return np.divide(block, denom, out=block)
    return transform


class ItemKNNConfig(ModelConfig):
    # Neighbours kept per item. NDCG@10 on ml-latest-small is flat from 20 to 200 (0.087-0.090);
    # 100 leaves room for the larger catalogues.
    k: int = Field(100, ge=1)
    # User-mean-centred ratings beat binary on NDCG@10 once shrunk (0.101 vs 0.091 at k=100,
    # shrinkage 50, ml-latest-small): disliked items then push their neighbours down.
    weighting: Literal["binary", "centred"] = "centred"
    # Cosine denominator + shrinkage: damps similarities resting on few co-ratings
    # (centred, k=100: 0 -> 10 -> 50 gives 0.094 -> 0.101 NDCG@10).
    shrinkage: float = Field(50.0, ge=0.0)


def user_item_matrix(data: Interactions, weighting: Literal["binary", "centred"]) -> sp.csr_matrix:
    """users x items, 1 per rating or the rating minus the user's mean (what the neighbours are learned from)."""
    return history_rows(data.histories, weighting)


def history_rows(histories: Histories, weighting: Literal["binary", "centred"]) -> sp.csr_matrix:
    """The histories as rows to score (or learn from): 1 per rating, or the rating minus the user's mean."""
    if weighting == "binary":
        return histories.with_values(np.ones(histories.ratings.nnz, dtype=np.float32))
    centred = (histories.ratings.data - histories.mean[histories.entry_rows()]).astype(np.float32)
    return histories.with_values(centred)


class ItemKNN(Recommender[ItemKNNConfig]):
    """Item-based collaborative filtering with a top-k cosine neighbour matrix."""

    name: ClassVar[str] = "itemknn"
    deterministic: ClassVar[bool] = True
    item_side: ClassVar[bool] = True

    def __init__(self, config: ItemKNNConfig | None = None) -> None:
        self.config = config or ItemKNNConfig()

    def fit(self, data: Interactions, ctx: FitContext) -> Self:
        x = user_item_matrix(data, self.config.weighting)
        self.neighbours_ = top_k_neighbours(
            x.T.tocsr(), x, self.config.k, cosine_transform(column_norms(x), self.config.shrinkage),
            desc="itemknn similarities", show_progress=ctx.show_progress, n_threads=ctx.n_threads,
        )
        self.scorer_ = self.neighbours_.T.tocsr()  # column j: j's neighbours
        self._remember_popularity(data)
        log.info("itemknn: %d items, %d neighbour pairs", data.n_items, self.neighbours_.nnz)
        return self

    def score_users(self, users: np.ndarray, histories: Histories) -> np.ndarray:
        users = np.asarray(users, dtype=np.int64)
        known = users >= 0
        rows = history_rows(histories, self.config.weighting)
        if known.all():  # the usual batch: no second full-width copy
            return (rows @ self.scorer_).toarray()
        scores = np.empty((users.shape[0], self.neighbours_.shape[1]), dtype=np.float32)
        scores[known] = (rows[np.flatnonzero(known)] @ self.scorer_).toarray()
        scores[~known] = self.cold_scores()
        return scores

    def similar_items(self, items: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        return sparse_rows_top_n(self.neighbours_, items, n)


def model_for(inputs: ModelInputs) -> ItemKNN:
    """The same settings at every scale and for `--quick`."""
    return ItemKNN(ItemKNNConfig())


SPEC = ModelSpec("itemknn", model_for, description="item-item cosine kNN on the sparse item-user matrix",
                 roles=frozenset({SIMILAR_MOVIES}), calibrates=True)
