"""Neighbourhood model on baseline residuals (Koren 2008; Surprise's KNNBaseline), vectorised.

r_ui = b_ui + sum_j s_ij (r_uj - b_uj) / sum_j s_ij over the k most similar items j that u
rated (item-based; user-based swaps the roles). Similarities are shrunk Pearson
correlations of baseline residuals over common raters. Each item keeps only its
`max_neighbors` most similar items, sorted, so "the k most similar rated by u" is "the
first k of that list that u rated": a lookup, not a search, and no Python loop.

`predict` is exact (Surprise's rule). `score_users` (every item for a batch of users) is two
sparse products instead: with S the sparse neighbour-similarity matrix kept to the first
`score_neighbors` of each list (default: all `max_neighbors`), E the residual rows and B the
rated (0/1) rows of the batch, estimate = base + (E @ Sᵀ) / (B @ Sᵀ) where the denominator is
positive (user-based: S_u @ E and S_u @ B). That averages over *every* rated neighbour in the
kept lists, not over the k most similar rated ones, so it equals predict exactly whenever a
user has rated at most k of an item's neighbours, and approximates it otherwise (a heavy user
gets a wider, similarity-weighted average). Keeping only the first k of each list instead
is a worse approximation: a user who rated few of them gets an estimate from one or two.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import ClassVar, Literal, Self

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from latentlens.build.interactions import Interactions
from latentlens.build.models.base import FitContext, ModelConfig
from latentlens.build.models.baseline import fit_biases
from latentlens.build.models.biased_mf import BiasedMF, BiasedMFConfig
from latentlens.build.models.ranking import top_entries_per_row
from latentlens.build.models.rating_base import ExplicitRatingModel
from latentlens.build.models.spec import ModelInputs, ModelSpec
from latentlens.build.progress import get_logger, progress

log = get_logger(__name__)


class KNNBaselineConfig(ModelConfig):
    """Surprise KNNBaseline(pearson_baseline) semantics; `max_neighbors` bounds memory at scale."""

    user_based: bool = False
    k: int = Field(40, ge=1)
    max_neighbors: int = Field(300, ge=1)
    shrinkage: float = Field(100.0, ge=0)
    reg_user: float = Field(15.0, ge=0)
    reg_item: float = Field(10.0, ge=0)
    bias_iterations: int = Field(10, ge=1)
    block_columns: int = Field(512, ge=1)  # similarity columns computed per sparse product
    # items (users, if user-based) with fewer ratings get no neighbours and predict the base:
    # similarities cost ~ (such things)^2, so a quick build raises it (2 = no cut, exact)
    min_raters: int = Field(2, ge=2)
    # residuals of what? "biases" is KNNBaseline; "mf" puts the neighbourhood on top of a
    # biased MF (Koren's integrated model, fitted in two stages): it then models only what
    # the global factors miss, which makes it a good partner in the blend
    base: Literal["biases", "mf"] = "biases"
    mf: BiasedMFConfig = BiasedMFConfig(factors=64, reg=0.1, reg_grid=None, iterations=12, cg_steps=3)
    # neighbours per list used by score_users (sparse products; None = all max_neighbors)
    score_neighbors: int | None = Field(None, ge=1)
    score_batch: int = Field(256, ge=1)  # users per sparse product in score_users (bounds memory)


def shrunk_pearson_neighbors(
    resid: sp.csr_matrix, shrinkage: float, max_neighbors: int, block_columns: int, min_raters: int = 2,
    n_threads: int = 1, show_progress: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """For each column of `resid` (raters x things), its most similar other columns.

    sim_ij = sum e_ui e_uj / sqrt(sum e_ui^2 sum e_uj^2) over common raters u, times
    (n_ij - 1) / (n_ij - 1 + shrinkage). Only positive similarities are kept. Returns
    (indices, sims), each (n_cols x max_neighbors), best first, padded with -1 / 0. Columns
    with fewer than `min_raters` raters neither have nor are neighbours. Blocks of columns run
    on `n_threads` threads (scipy's sparse products and numpy's sorts release the GIL).
    """
    resid = resid.tocsc().astype(np.float64)
    n_all = resid.shape[1]
    m = min(max_neighbors, max(n_all - 1, 1))
    nb_idx_all = np.full((n_all, m), -1, dtype=np.int32)
    nb_sim_all = np.zeros((n_all, m), dtype=np.float32)
    # a column with fewer than 2 raters has no similarity (common < 2) to anything: leave it
    # out of the products (ML catalogues hold many unrated and once-rated movies)
    active = np.flatnonzero(np.diff(resid.indptr) >= max(2, min_raters))
    if active.shape[0] < 2:
        return nb_idx_all, nb_sim_all
    resid = resid[:, active]
    sq = resid.multiply(resid).tocsc()
    ones = resid.copy()
    ones.data[:] = 1.0
    n = resid.shape[1]
    m_act = min(m, n - 1)
    nb_idx = np.full((n, m), -1, dtype=np.int32)
    nb_sim = np.zeros((n, m), dtype=np.float32)
    rt, sqt, onest = resid.T.tocsr(), sq.T.tocsr(), ones.T.tocsr()
    starts = range(0, n, block_columns)

    def block(start: int) -> None:
        cols = slice(start, min(start + block_columns, n))
        # Only co-rated pairs can be similar, so everything stays on the stored entries of the
        # co-rating counts: dense (things x block) arrays cost ~1.5 s a block at 62k items
        # whatever the data size. A product drops pairs whose sum is exactly 0: read as 0 here.
        common = (onest @ ones[:, cols]).tocsr()
        other = np.repeat(np.arange(n, dtype=np.int64), np.diff(common.indptr))
        col, n_common = common.indices.astype(np.int64), common.data
        num = _values_like(rt @ resid[:, cols], common)
        s_i = _values_like(sqt @ ones[:, cols], common)
        s_j = _values_like(onest @ sq[:, cols], common)
        with np.errstate(invalid="ignore", divide="ignore"):
            sim = num / np.sqrt(s_i * s_j) * (n_common - 1) / (n_common - 1 + shrinkage)
        keep = np.isfinite(sim) & (n_common >= 2) & (sim > 0) & (other != col + start)  # never one's own neighbour
        # per column of the block: its neighbours best first, ties by the lower index
        col, other, sim, rank = top_entries_per_row(col[keep], other[keep], sim[keep], m_act)
        nb_idx[col + start, rank] = active[other]  # blocks write disjoint rows
        nb_sim[col + start, rank] = sim

    with ThreadPoolExecutor(max(1, n_threads)) as pool:
        for _ in progress(pool.map(block, starts), desc="knn similarities", show=show_progress, total=len(starts),
                          unit="block"):
            pass
    nb_idx_all[active], nb_sim_all[active] = nb_idx, nb_sim
    return nb_idx_all, nb_sim_all


def _values_like(product: sp.spmatrix, pattern: sp.csr_matrix) -> np.ndarray:
    """Values of `product` at the stored entries of `pattern` (same shape, in its order), 0 where it
    stores nothing.

    Products over the same rater patterns come out with the same structure in the same order
    (scipy's product is deterministic in the patterns), except where a sum is exactly 0 and dropped:
    only then are both sorted and matched by position."""
    mat = product.tocsr()
    if np.array_equal(mat.indptr, pattern.indptr) and np.array_equal(mat.indices, pattern.indices):
        return mat.data
    width = pattern.shape[1]

    def keys(m: sp.csr_matrix) -> np.ndarray:  # row-major position of each stored entry
        return np.repeat(np.arange(m.shape[0], dtype=np.int64), np.diff(m.indptr)) * width + m.indices

    own, wanted = keys(mat), keys(pattern)
    if own.size == 0:
        return np.zeros(wanted.shape[0])
    order = np.argsort(own, kind="stable")
    own, values = own[order], mat.data[order]
    at = np.minimum(np.searchsorted(own, wanted), own.size - 1)
    return np.where(own[at] == wanted, values[at], 0.0)


class KNNBaseline(ExplicitRatingModel[KNNBaselineConfig]):
    """Item-based (default) or user-based kNN on baseline residuals."""

    name: ClassVar[str] = "knn_baseline"

    def __init__(self, config: KNNBaselineConfig | None = None) -> None:
        self.config = config or KNNBaselineConfig()

    def fit(self, data: Interactions, ctx: FitContext) -> Self:
        cfg = self.config
        mu, bu, bi = fit_biases(data.user_idx, data.item_idx, data.rating, data.n_users, data.n_items,
                                cfg.reg_user, cfg.reg_item, cfg.bias_iterations)
        self._base = None
        if cfg.base == "mf":
            self._base = BiasedMF(cfg.mf).fit(data, ctx)
            mu, bu, bi = self._base._mu, self._base._bu, self._base._bi
            e = data.rating - self._base._estimate(data.user_idx.astype(np.int64), data.item_idx.astype(np.int64))
        else:
            e = data.rating - (mu + bu[data.user_idx] + bi[data.item_idx])
        # "raters" x "things": item-based compares items over users, user-based the reverse
        rater, thing, n_rater, n_thing = (
            (data.item_idx, data.user_idx, data.n_items, data.n_users) if cfg.user_based
            else (data.user_idx, data.item_idx, data.n_users, data.n_items))
        resid = sp.csr_matrix((e, (rater, thing)), shape=(n_rater, n_thing))
        self._nb_idx, self._nb_sim = shrunk_pearson_neighbors(resid, cfg.shrinkage, cfg.max_neighbors,
                                                              cfg.block_columns, cfg.min_raters, ctx.n_threads,
                                                              ctx.show_progress)
        resid.sum_duplicates()
        resid.sort_indices()
        self._R = resid  # rater rows, what predict looks neighbours up in
        self._n_thing = n_thing
        self._score_matrices(data, e)
        self._set_fitted(data, mu, bu, bi)
        log.info("knn_baseline: %s-based, %d neighbours kept per %s", "user" if cfg.user_based else "item",
                 self._nb_idx.shape[1], "user" if cfg.user_based else "item")
        return self

    def _estimate(self, users: np.ndarray, items: np.ndarray, cells: int = 1 << 23) -> np.ndarray:
        """Exact rule: pairs grouped by rater; each group's residual rows are expanded to a dense
        (group x things) block with NaN for unrated, so "which of the neighbours did this rater
        rate" is a gather, not a search. `cells` bounds that block (64 MB of float64)."""
        out = self._fallback(users, items) if self._base is None else self._base._estimate(users, items)
        rater, thing = (items, users) if self.config.user_based else (users, items)
        order = np.argsort(rater, kind="stable")
        raters, first = np.unique(rater[order], return_index=True)
        bounds = np.append(first, order.shape[0])
        step = max(1, cells // (self._n_thing + 1))
        dense = np.full((min(step, raters.shape[0]), self._n_thing + 1), np.nan)  # last column: "no neighbour"
        for g in range(0, raters.shape[0], step):
            group = raters[g : g + step]
            sel = order[bounds[g] : bounds[min(g + step, raters.shape[0])]]
            rows = self._R[group]
            at = (np.repeat(np.arange(group.shape[0]), np.diff(rows.indptr)), rows.indices)
            dense[at] = rows.data
            local = np.searchsorted(group, rater[sel])
            nb = self._nb_idx[thing[sel]]
            vals = dense[local[:, None], np.where(nb >= 0, nb, self._n_thing)]
            found = ~np.isnan(vals)
            over = np.flatnonzero(found.sum(axis=1) > self.config.k)  # only these need the cut
            found[over] &= np.cumsum(found[over], axis=1, dtype=np.int32) <= self.config.k  # k most similar rated
            w = np.where(found, self._nb_sim[thing[sel]], 0.0)
            den = w.sum(axis=1)
            num = (w * np.where(found, vals, 0.0)).sum(axis=1)
            out[sel] += np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)
            dense[at] = np.nan  # back to "nothing rated" for the next group
        return out

    def _score_matrices(self, data: Interactions, e: np.ndarray) -> None:
        """What score_users multiplies: residual and rated rows (users x items) and the sparse
        similarities, item-based as Sᵀ (items x items, column i = item i's neighbours)."""
        cfg = self.config
        self._E = self._R.T.tocsr() if cfg.user_based else self._R
        self._E.sort_indices()
        self._B = self._E.copy()
        self._B.data[:] = 1.0  # from the structure, before any residual of exactly 0 is dropped
        width = min(cfg.score_neighbors or cfg.max_neighbors, self._nb_idx.shape[1])
        nb, sim = self._nb_idx[:, :width], self._nb_sim[:, :width]
        rows = np.repeat(np.arange(nb.shape[0]), width)
        keep = nb.ravel() >= 0
        s = sp.csr_matrix((sim.ravel()[keep].astype(np.float64), (rows[keep], nb.ravel()[keep])),
                          shape=(nb.shape[0], nb.shape[0]))
        self._S = s if cfg.user_based else s.T.tocsr()

    def _score_block(self, users: np.ndarray) -> np.ndarray:
        """Every item for each user by two sparse products (see the module doc), in sub-batches."""
        out = (self._mu + self._bu[users][:, None] + self._bi[None, :] if self._base is None
               else self._base._score_block(users))
        step = self.config.score_batch
        for start in range(0, users.shape[0], step):
            u = users[start : start + step]
            if self.config.user_based:
                s_u = self._S[u]
                num, den = (s_u @ self._E).toarray(), (s_u @ self._B).toarray()
            else:
                num, den = (self._E[u] @ self._S).toarray(), (self._B[u] @ self._S).toarray()
            pos = den > 0
            out[start : start + step][pos] += num[pos] / den[pos]
        return out


def model_for(inputs: ModelInputs) -> KNNBaseline:
    """Items with at least 10 raters for `--quick`."""
    return KNNBaseline(KNNBaselineConfig(min_raters=10) if inputs.quick else KNNBaselineConfig())


SPEC = ModelSpec("knn_baseline", model_for, rating=True, calibrates=True, description="item kNN on baseline residuals")
