"""EASE (Steck 2019): a shallow item-item autoencoder with a closed-form solution.

B = I - P·diag(1/diag(P)) with P = (XᵀX + λI)⁻¹ and X the binary users x items matrix;
a user's scores are their profile row times B. Steck's profile is the binary row; ours
("weighted") weighs each rated item by how much the user liked it (1 + a·(rating - user
mean), floored at 0) and by recency (a half-life counted in the user's own ratings), which
took NDCG@10 from 0.104 to 0.13 on ml-latest-small's temporal holdout: a top-N list should
follow what the user liked lately, not everything they ever rated. The inverse is dense (items x items), so only
the `max_items` most-rated items take part (20,000 -> 1.6 GB float32 and a few minutes of
Cholesky on 2 cores at ML-25M). Other items score below every EASE item (hybrid and
content cover them); unknown users get popularity.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import ClassVar, Literal, Self

import numpy as np
import scipy.sparse as sp
from pydantic import Field
from scipy.linalg import lapack

from latentlens.build.interactions import Histories, Interactions
from latentlens.build.models.base import FitContext, ModelConfig, ModelError, Recommender
from latentlens.build.models.ranking import spread_to_catalogue
from latentlens.build.models.spec import ModelInputs, ModelSpec
from latentlens.build.progress import get_logger, progress

log = get_logger(__name__)


class EASEConfig(ModelConfig):
    # L2 strength λ. Chosen on a validation holdout carved from ml-latest-small's training
    # data (200 beat 500 at every profile setting); Steck used 500 for ML-20M - λ grows with
    # the data, so try 500-1000 at ML-25M.
    l2: float = Field(200.0, gt=0.0)
    # Items in the dense inverse: memory 4·max_items² bytes, time ∝ max_items³.
    max_items: int = Field(20_000, ge=1)
    # "binary" is Steck's EASE; "weighted" uses the two settings below (validation NDCG@10:
    # binary 0.113, rating only 0.130, recency only 0.121, both 0.138).
    profile: Literal["binary", "weighted"] = "weighted"
    rating_weight: float = Field(1.0, ge=0.0)        # a in 1 + a·(rating - user mean); 1 of {0,1,2,3}
    recency_half_life: float | None = Field(10.0, gt=0.0)  # in ratings; 10 of {5, 10, 20, none}
    recency_floor: float = Field(0.3, ge=0.0, le=1.0)      # weight of a user's oldest ratings


def profile_weights(histories: Histories, rating_weight: float, half_life: float | None,
                    floor: float) -> np.ndarray:
    """Weight of each rating in its user's profile (aligned with `histories.ratings.data`): liking
    (vs the user's mean) x recency, counted in the user's own ratings (Histories.age)."""
    w = np.maximum(1.0 + rating_weight * (histories.ratings.data - histories.mean[histories.entry_rows()]), 0.0)
    if half_life is not None:
        age = histories.age.data - 1
        w = w * (floor + (1.0 - floor) * np.power(0.5, age / half_life))
    return w.astype(np.float32)


def ease_weights(gram: np.ndarray, l2: float) -> np.ndarray:
    """B from the dense Gram matrix XᵀX (float32 or float64; overwritten and returned as B)."""
    n = gram.shape[0]
    p = ridge_inverse(gram, l2, "ease")
    diag = p.diagonal().copy()
    p /= -diag[None, :]
    p[np.diag_indices(n)] = 0.0
    if not np.isfinite(p).all():
        raise ModelError("ease: weights are not finite")
    return p


def ridge_inverse(gram: np.ndarray, l2: float, model: str) -> np.ndarray:
    """(XᵀX + λI)⁻¹ from the dense Gram matrix, in its memory (overwritten and returned).

    Cholesky inverse in place (LAPACK potrf/potri): half the flops of an LU inverse and no
    second n x n buffer.
    """
    n = gram.shape[0]
    gram[np.diag_indices(n)] += l2
    a = gram.T  # Fortran-ordered view of the same memory; gram is symmetric
    potrf, potri = lapack.get_lapack_funcs(("potrf", "potri"), (a,))
    chol, info = potrf(a, lower=True, overwrite_a=True, clean=False)
    if info != 0:
        raise ModelError(f"{model}: Cholesky failed (info={info}); increase l2")
    inv, info = potri(chol, lower=True, overwrite_c=True)
    if info != 0:
        raise ModelError(f"{model}: inverse failed (info={info})")
    p = inv.T  # C-ordered view again; LAPACK filled the lower triangle of the F view = upper of p
    _mirror_upper_to_lower(p)
    return p


def gram(x: sp.csr_matrix, dtype: type = np.float32, users_per_block: int = 8192,
         show_progress: bool = False, n_threads: int = 1) -> np.ndarray:
    """Dense XᵀX, accumulated over blocks of users: memory is the n x n result plus one block's
    sparse product per thread, never a full sparse XᵀX (hundreds of millions of entries at ML-25M).

    The block products (scipy's sparse matmul, which releases the GIL: ~90% of an EASE fit at
    ML-25M) run on `n_threads` threads with blocks of users_per_block / n_threads users, so the
    products in flight hold about what one block did; the dense accumulation is serialised.
    """
    n = x.shape[1]
    out = np.zeros((n, n), dtype=dtype)
    band = max(1, (1 << 25) // max(n, 1))                    # rows of a 128 MB dense buffer
    buffer = np.empty((min(band, n), n), dtype=dtype)
    n_threads = max(1, n_threads)
    per_block = max(1, users_per_block // n_threads)
    starts = range(0, x.shape[0], per_block)
    lock = threading.Lock()

    def add(start: int) -> None:
        block = rows_view(x, start, start + per_block)
        prod = block.T @ block  # CSC; symmetric, so its arrays read as CSR are the same matrix
        rows = sp.csr_matrix((prod.data.astype(dtype, copy=False), prod.indices, prod.indptr), shape=prod.shape)
        # densify a band of rows at a time and add: a COO scatter-add of the ~10^8 entries of
        # one block's product was 5x slower at ML-25M scale; the bands are views, not copies
        # (prod.tocsr() and prod[r0:r1] copied the ~4·10^7 entries: 40% of the Gram's time)
        with lock:
            for r0 in range(0, n, band):
                r1 = min(r0 + band, n)
                rows_view(rows, r0, r1).toarray(out=buffer[: r1 - r0])
                out[r0:r1] += buffer[: r1 - r0]

    with ThreadPoolExecutor(n_threads) as pool:
        done = pool.map(add, starts)
        for _ in progress(done, desc="ease gram", show=show_progress, total=len(starts), unit="block"):
            pass
    return out


# Bytes of one column panel of B: scoring reads a whole row of B per rated item of a user, and
# 8,000 x 256 float32 (8 MB) stays in L3 (32 MB here, shared by two threads) across a batch's
# rows, where B's full 32 KB rows came from memory each time. 40 batches of 1,024 users of
# synthetic ML-25M's profiles on two threads: 7.1-8.4 s whole, 4.1-4.5 s in 256-column panels
# (4.9-5.1 s at 128 columns, 5.0-5.7 s at 512).
PANEL_BYTES = 8 << 20


def column_panels(weights: np.ndarray, panel_bytes: int | None = None) -> list[np.ndarray]:
    """B split into contiguous column panels (the scoring's layout; B itself is not kept)."""
    n = weights.shape[1]
    width = max(1, (panel_bytes or PANEL_BYTES) // max(1, weights.shape[0] * weights.itemsize))
    return [np.ascontiguousarray(weights[:, start : start + width]) for start in range(0, n, width)]


def rows_view(x: sp.csr_matrix, start: int, stop: int) -> sp.csr_matrix:
    """Rows start:stop of a CSR matrix sharing its arrays (scipy's slicing copies them)."""
    stop = min(stop, x.shape[0])
    a, b = x.indptr[start], x.indptr[stop]
    return sp.csr_matrix((x.data[a:b], x.indices[a:b], x.indptr[start : stop + 1] - a),
                         shape=(stop - start, x.shape[1]))


def _mirror_upper_to_lower(p: np.ndarray, block: int = 2048) -> None:
    """Copy the upper triangle onto the lower, a band of rows at a time (no n x n temporary)."""
    n = p.shape[0]
    for start in range(0, n, block):
        stop = min(start + block, n)
        square = np.triu(p[start:stop, start:stop])          # the band's diagonal square
        p[stop:, start:stop] = p[start:stop, stop:].T         # below the square <- right of it
        p[start:stop, start:stop] = square + np.triu(square, 1).T


class EASE(Recommender[EASEConfig]):
    """Embarrassingly shallow autoencoder over the most-rated items."""

    name: ClassVar[str] = "ease"
    deterministic: ClassVar[bool] = True
    item_side: ClassVar[bool] = True
    # No similar_items: rows of B are regression weights, which on small data rank an item's
    # neighbours noticeably worse than cosine (the checkerboard showed it); the similar-movie
    # lists come from itemknn and content.

    def __init__(self, config: EASEConfig | None = None) -> None:
        self.config = config or EASEConfig()

    def fit(self, data: Interactions, ctx: FitContext) -> Self:
        counts = np.bincount(data.item_idx, minlength=data.n_items)
        rated = np.flatnonzero(counts > 0)
        if rated.size == 0:
            raise ModelError("ease: no ratings")
        if rated.size > self.config.max_items:  # keep the most rated; ties by lower index
            rated = np.sort(rated[np.lexsort((rated, -counts[rated]))[: self.config.max_items]])
        self.items_ = rated.astype(np.int64)
        x = data.binary[:, self.items_].tocsr()
        dtype = np.float64 if rated.size <= 5_000 else np.float32  # float32 halves 1.6 GB at 20k
        log.info("ease: %d items, Gram and inverse", rated.size)
        g = gram(x, dtype, show_progress=ctx.show_progress, n_threads=ctx.n_threads)
        self.panels_ = column_panels(ease_weights(g, self.config.l2).astype(np.float32, copy=False))
        del g
        self.n_items_ = data.n_items
        self._remember_popularity(data)
        return self

    def profiles(self, histories: Histories) -> sp.csr_matrix:
        """The histories' rows over items_ that the weights score: binary, or rating- and recency-weighted."""
        if self.config.profile == "weighted":
            values = profile_weights(histories, self.config.rating_weight, self.config.recency_half_life,
                                     self.config.recency_floor)
        else:
            values = np.ones(histories.ratings.nnz, dtype=np.float32)
        return histories.with_values(values)[:, self.items_].tocsr().astype(np.float32)

    def weights(self) -> np.ndarray:
        """B as one (items_ x items_) matrix (a copy: the fit keeps it as column panels)."""
        return np.hstack(self.panels_)

    def candidates(self) -> np.ndarray:
        return self.items_

    def score_candidates(self, users: np.ndarray, histories: Histories) -> np.ndarray:
        users = np.asarray(users, dtype=np.int64)
        known = users >= 0
        scores = np.empty((users.shape[0], self.items_.shape[0]), dtype=np.float32)
        rows = self.profiles(histories)[np.flatnonzero(known)]
        start = 0
        for panel in self.panels_:
            scores[known, start : start + panel.shape[1]] = rows @ panel
            start += panel.shape[1]
        scores[~known] = self.cold_scores()[self.items_]
        return scores

    def score_users(self, users: np.ndarray, histories: Histories) -> np.ndarray:
        users = np.asarray(users, dtype=np.int64)
        scores = spread_to_catalogue(self.score_candidates(users, histories), self.items_, self.n_items_)
        scores[users < 0] = self.cold_scores()  # unknown users: popularity over every item
        return scores


def config_for(inputs: ModelInputs) -> EASEConfig:
    """2,000 items for `--quick`. Large: the dense inverse over the 8,000 most-rated movies (Gram + inverse
    ~80 s at synthetic ML-25M vs ~10 min at 20,000); they carry most ratings of a long-tailed catalogue."""
    if inputs.quick:
        return EASEConfig(max_items=2_000)
    return EASEConfig(max_items=8_000) if inputs.large else EASEConfig()


def model_for(inputs: ModelInputs) -> EASE:
    return EASE(config_for(inputs))


SPEC = ModelSpec("ease", model_for, description="EASE (Steck 2019), recency- and rating-weighted profiles",
                 calibrates=True)
