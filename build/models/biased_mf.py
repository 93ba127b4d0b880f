"""Biased matrix factorisation trained by alternating least squares: our fast explicit model.

r_ui ~ mu + b_u + b_i + p_u . q_i. With the item side fixed, every user is an independent
ridge regression on (q_i, 1) -> r_ui - mu - b_i, and vice versa, so one half-step is a
batch of small (k+1) x (k+1) solves. Rows are grouped by rating count and padded, so the
Gram matrices come from one batched matmul and the solves from one stacked
`np.linalg.solve`, with no Python loop over ratings.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ClassVar, Literal, Self

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from latentlens.build.interactions import Interactions
from latentlens.build.models.base import FitContext, ModelConfig, ModelError
from latentlens.build.models.baseline import fit_biases
from latentlens.build.models.rating_base import ExplicitRatingModel
from latentlens.build.models.spec import ModelInputs, ModelSpec
from latentlens.build.progress import get_logger, progress
from latentlens.build.sampling import sample_users

log = get_logger(__name__)


class BiasedMFConfig(ModelConfig):
    """ALS settings. `reg` scales with each row's rating count when `weighted_reg` (ALS-WR).

    The default (16 factors, 4 iterations, reg chosen from `reg_grid`) is our fast explicit
    model: >= 10x Surprise's SVD at better RMSE (docs/performance.md). The best reg depends on
    the data's noise (ml-latest-small 0.15, the synthetic sets 0.05), so it is chosen on a
    validation split of a sample of users (the ordering held from 2,000 to 10,000 users of
    synthetic ML-25M).
    """

    factors: int = Field(16, ge=1)
    iterations: int = Field(4, ge=1)
    reg: float = Field(0.1, ge=0)  # used as is when reg_grid is None
    reg_grid: tuple[float, ...] | None = (0.05, 0.1, 0.15)
    reg_search_users: int = Field(3_000, ge=10)  # users whose ratings the reg search fits on
    reg_bias: float = Field(0.01, ge=0)
    weighted_reg: bool = True
    init_std: float = Field(0.1, ge=0)
    solver: Literal["cg", "exact"] = "cg"
    cg_steps: int = Field(2, ge=1)  # conjugate-gradient steps per half-iteration, warm-started
    # ratings (padded for "exact") held per block: 64k keeps the CG arrays (block x factors) in
    # cache; 2M was 1.8x slower on synth-1m (16 factors)
    block_entries: int = Field(65_536, ge=1_000)


def ridge_rows(
    indptr: np.ndarray, cols: np.ndarray, target: np.ndarray, features: np.ndarray,
    reg: np.ndarray, weighted: bool, block_entries: int,
) -> np.ndarray:
    """Solve, for every CSR row r, min_w sum_j (target_rj - f_j . w)^2 + sum_d reg_d * s_r * w_d^2.

    `features` is (n_cols, d); s_r is the row's count when `weighted`, else 1. Rows with no
    entries get w = 0. Rows are sorted by length and cut into blocks whose padded size stays
    under `block_entries`, so memory is bounded whatever the degree distribution.
    """
    n_rows = indptr.shape[0] - 1
    d = features.shape[1]
    counts = np.diff(indptr)
    out = np.zeros((n_rows, d), dtype=np.float64)
    f_pad = np.vstack([features, np.zeros((1, d), features.dtype)]).astype(np.float32)
    pad = features.shape[0]
    # bucket rows by length rounded up to a power of two: padding costs at most 2x
    nonempty = np.flatnonzero(counts > 0)
    bucket = np.ceil(np.log2(counts[nonempty])).astype(np.int64)
    max_rows = max(1, block_entries // (d * d))  # bounds the (rows, d, d) Gram stack too
    blocks = []
    for b in np.unique(bucket):
        members = nonempty[bucket == b]
        step = max(1, min(max_rows, block_entries // (1 << int(b))))
        blocks += [members[s : s + step] for s in range(0, members.shape[0], step)]
    for rows in blocks:
        lens = counts[rows]
        width = int(lens.max())
        pos = indptr[rows][:, None] + np.arange(width)[None, :]
        valid = np.arange(width)[None, :] < lens[:, None]
        pos = np.where(valid, pos, 0)
        idx = np.where(valid, cols[pos], pad)
        y = np.where(valid, target[pos], 0.0).astype(np.float32)
        x = f_pad[idx]                                   # (b, width, d)
        gram = np.matmul(x.transpose(0, 2, 1), x).astype(np.float64)
        rhs = np.einsum("bwd,bw->bd", x, y).astype(np.float64)
        scale = lens.astype(np.float64) if weighted else np.ones(rows.shape[0])
        gram[:, np.arange(d), np.arange(d)] += scale[:, None] * reg[None, :]
        out[rows] = np.linalg.solve(gram, rhs[..., None])[..., 0]
    return out

def _row_blocks(indptr: np.ndarray, n_rows: int, block_entries: int) -> list[int]:
    """Row bounds of blocks of about `block_entries` ratings each (at least one row per block)."""
    cum = indptr[1:]
    bounds = [0]
    while bounds[-1] < n_rows:
        lo = bounds[-1]
        bounds.append(min(n_rows, max(lo + 1, int(np.searchsorted(cum, indptr[lo] + block_entries, side="right")))))
    return bounds


def _conjugate_gradient(apply: Callable[[np.ndarray], np.ndarray], w: np.ndarray, r: np.ndarray,
                        steps: int) -> np.ndarray:
    """`steps` conjugate-gradient steps per row from `w` with residual `r` (both updated in place)."""
    p = r.copy()
    rs = np.einsum("nd,nd->n", r, r)
    for _ in range(steps):
        ap = apply(p)
        den = np.einsum("nd,nd->n", p, ap)
        alpha = np.divide(rs, den, out=np.zeros_like(rs), where=den > 0)
        w += alpha[:, None] * p
        r -= alpha[:, None] * ap
        rs_new = np.einsum("nd,nd->n", r, r)
        beta = np.divide(rs_new, rs, out=np.zeros_like(rs), where=rs > 0)
        p = r + beta[:, None] * p
        rs = rs_new
    return w


def ridge_rows_cg(
    indptr: np.ndarray, cols: np.ndarray, target: np.ndarray, features: np.ndarray,
    reg: np.ndarray, weighted: bool, start: np.ndarray, steps: int, block_entries: int,
    n_threads: int = 1,
) -> np.ndarray:
    """The same ridge problems as `ridge_rows`, approximately, by a few conjugate-gradient steps.

    Never forms the (d x d) Gram matrices: each step costs O(nnz * d) (a gather, a row-wise
    dot and one sparse @ dense product) instead of O(nnz * d^2) plus a LAPACK call per row.
    Warm-started from `start` (the previous ALS iteration), 3 steps are enough (as in the
    implicit library). Rows are processed in blocks of about `block_entries` ratings, on
    `n_threads` threads: blocks are independent and numpy/scipy release the GIL in the
    gathers, products and sparse matmuls that dominate.
    """
    n_rows, d = start.shape
    counts = np.diff(indptr)
    out = np.zeros((n_rows, d), dtype=np.float64)
    f32 = np.ascontiguousarray(features, dtype=np.float32)
    reg32 = reg.astype(np.float32)
    bounds = _row_blocks(indptr, n_rows, block_entries)

    def solve_block(lo: int, hi: int) -> None:
        a, b = indptr[lo], indptr[hi]
        cnt = counts[lo:hi]
        fx = f32[cols[a:b]]                                      # (nnz_block, d)
        # one CSR shell reused for every product: its data is overwritten, never re-validated
        m = sp.csr_matrix((np.empty(b - a, np.float32), cols[a:b], indptr[lo : hi + 1] - a),
                          shape=(hi - lo, features.shape[0]))
        scale = cnt.astype(np.float32) if weighted else np.ones(hi - lo, np.float32)
        lam = scale[:, None] * reg32[None, :]

        def fitted(w: np.ndarray) -> np.ndarray:
            return np.einsum("nd,nd->n", fx, np.repeat(w, cnt, axis=0))

        def apply(w: np.ndarray) -> np.ndarray:
            m.data = fitted(w)
            return m @ f32 + lam * w

        w = start[lo:hi].astype(np.float32)
        # r = rhs - A w in one product: the residuals of the current fit, times the features
        m.data = np.asarray(target[a:b], np.float32) - fitted(w)
        r = m @ f32 - lam * w
        w = _conjugate_gradient(apply, w, r, steps)
        w[cnt == 0] = 0.0
        out[lo:hi] = w

    spans = list(zip(bounds[:-1], bounds[1:], strict=True))
    if n_threads <= 1 or len(spans) < 2:
        for lo, hi in spans:
            solve_block(lo, hi)
    else:
        with ThreadPoolExecutor(n_threads) as pool:
            list(pool.map(lambda span: solve_block(*span), spans))
    return out


class BiasedMF(ExplicitRatingModel[BiasedMFConfig]):
    """Biased MF by ALS; biases ride along as an extra column paired with a constant 1."""

    name: ClassVar[str] = "biased_mf"

    def __init__(self, config: BiasedMFConfig | None = None) -> None:
        self.config = config or BiasedMFConfig()

    def fit(self, data: Interactions, ctx: FitContext) -> Self:
        cfg = self.config
        self.reg_search_: dict[float, float] = {}
        self.reg_ = cfg.reg
        if cfg.reg_grid:
            self.reg_ = self._choose_reg(data, ctx)
        self._P, self._Q, mu, bu, bi = self._als(data, self.reg_, ctx)
        self._set_fitted(data, mu, bu, bi)
        return self

    def _choose_reg(self, data: Interactions, ctx: FitContext) -> float:
        """The grid's reg with the lowest RMSE on 10% of the ratings of at most reg_search_users.

        Users are sampled whole: a uniform sample of *ratings* leaves each user a handful and
        then favours a strong reg (0.15 on a 1M-rating sample of synthetic ML-25M, where 0.05
        is best on the full data); whole users keep the per-user density the final fit sees.
        """
        cfg = self.config
        assert cfg.reg_grid is not None  # fit searches only when there is a grid
        sample = sample_users(data, cfg.reg_search_users, ctx.rng)
        held = ctx.rng.random(sample.n_ratings) < 0.1
        train, test = sample.subset(~held), sample.subset(held)
        for reg in cfg.reg_grid:
            probe = BiasedMF(cfg.model_copy(update={"reg": reg, "reg_grid": None})).fit(train, ctx)
            err = probe.predict(test.user_idx, test.item_idx) - test.rating
            self.reg_search_[reg] = float(np.sqrt(np.mean(err**2)))
        best = min(self.reg_search_, key=self.reg_search_.__getitem__)
        log.info("biased_mf: reg %s chosen on %d validation ratings (rmse %s)", best, test.n_ratings,
                 {k: round(v, 4) for k, v in self.reg_search_.items()})
        return best

    def chosen(self) -> dict:
        if not self.reg_search_:
            return {}
        return {"reg": self.reg_, "reg_search_rmse": {str(k): round(v, 5) for k, v in self.reg_search_.items()}}

    def tuned_config(self) -> BiasedMFConfig:
        return self.config.model_copy(update={"reg": self.reg_, "reg_grid": None})

    def _als(self, data: Interactions, reg_value: float, ctx: FitContext):
        """(P, Q, mu, bu, bi) by alternating CG (or exact) ridge solves from a bias-only start."""
        cfg = self.config
        k = cfg.factors
        mu, bu, bi = fit_biases(data.user_idx, data.item_idx, data.rating, data.n_users, data.n_items,
                                15.0, 10.0, 3)
        r = (data.rating - np.float32(mu)).astype(np.float32)  # float32: half the memory traffic
        by_user = sp.csr_matrix((r, (data.user_idx, data.item_idx)), shape=(data.n_users, data.n_items))
        by_item = by_user.T.tocsr()  # both have sorted indices, duplicates summed (none expected)
        by_user.sort_indices()  # sorted gathers from the factor tables: 2x faster at ML-25M
        by_item.sort_indices()
        Q = ctx.rng.normal(0, cfg.init_std, (data.n_items, k))
        P = np.zeros((data.n_users, k))
        reg = np.append(np.full(k, reg_value), cfg.reg_bias)
        W_u = np.zeros((data.n_users, k + 1))
        W_i = np.hstack([Q, bi[:, None]])

        def solve(m: sp.csr_matrix, target: np.ndarray, feats: np.ndarray, start: np.ndarray, steps: int):
            if cfg.solver == "exact":
                return ridge_rows(m.indptr, m.indices, target, feats, reg, cfg.weighted_reg, cfg.block_entries)
            return ridge_rows_cg(m.indptr, m.indices, target, feats, reg, cfg.weighted_reg, start, steps,
                                 cfg.block_entries, ctx.n_threads)

        for it in progress(range(cfg.iterations), desc="biased_mf ALS", show=ctx.show_progress, total=cfg.iterations,
                           unit="iter"):
            steps = cfg.cg_steps * (2 if it == 0 else 1)  # the first users' solve starts from zero
            # users: features (q_i, 1), target r - b_i  ->  (p_u, b_u)
            W_u = solve(by_user, by_user.data - bi[by_user.indices],
                        np.hstack([Q, np.ones((data.n_items, 1))]), W_u, steps)
            P, bu = W_u[:, :k], W_u[:, k]
            # items: features (p_u, 1), target r - b_u  ->  (q_i, b_i)
            W_i = solve(by_item, by_item.data - bu[by_item.indices],
                        np.hstack([P, np.ones((data.n_users, 1))]), W_i, steps)
            Q, bi = W_i[:, :k], W_i[:, k]
            if not (np.isfinite(P).all() and np.isfinite(Q).all()):
                raise ModelError("biased_mf: non-finite factors (raise reg?)")
            if log.isEnabledFor(10):
                u_rows = np.repeat(np.arange(data.n_users), np.diff(by_user.indptr))
                resid = by_user.data - bu[u_rows] - bi[by_user.indices] - np.einsum(
                    "nk,nk->n", P[u_rows], Q[by_user.indices])
                log.debug("biased_mf: train rmse %.4f", float(np.sqrt(np.mean(resid**2))))
        return P, Q, mu, bu, bi

    def _estimate(self, users: np.ndarray, items: np.ndarray, chunk: int = 262_144) -> np.ndarray:
        out = self._mu + self._bu[users] + self._bi[items]
        for s in range(0, users.shape[0], chunk):  # bounds the (chunk x k) gathers
            out[s : s + chunk] += np.einsum("nk,nk->n", self._P[users[s : s + chunk]], self._Q[items[s : s + chunk]])
        return out

    def _score_block(self, users: np.ndarray) -> np.ndarray:
        return self._mu + self._bu[users][:, None] + self._bi[None, :] + self._P[users] @ self._Q.T


def model_for(inputs: ModelInputs) -> BiasedMF:
    """No regularisation search for `--quick`."""
    return BiasedMF(BiasedMFConfig(reg_grid=None) if inputs.quick else BiasedMFConfig())


SPEC = ModelSpec("biased_mf", model_for, rating=True, linear_fit=True, calibrates=True,
                 description="biased MF by conjugate-gradient ALS")
