"""Surprise's SVD (Funk-style SGD matrix factorisation), the reference rating model.

Surprise trains; we score. After fitting, its learned arrays (pu, qi, bu, bi) are mapped
back onto our dense indices and every prediction is one numpy expression, because
Surprise's own test()/anti-testset loops over user x item pairs in Python.
"""

from __future__ import annotations

from typing import ClassVar, Self

import numpy as np
from pydantic import Field

from latentlens.build.interactions import Interactions
from latentlens.build.models.base import FitContext, ModelConfig, ModelError
from latentlens.build.models.rating_base import ExplicitRatingModel
from latentlens.build.models.spec import ModelInputs, ModelSpec
from latentlens.build.progress import get_logger

log = get_logger(__name__)


class SurpriseSVDConfig(ModelConfig):
    """Surprise SVD settings; `max_ratings` caps training data by uniform subsampling."""

    n_factors: int = Field(150, ge=1)
    n_epochs: int = Field(20, ge=1)
    lr_all: float = Field(0.005, gt=0)
    reg_all: float = Field(0.02, ge=0)
    biased: bool = True
    init_std_dev: float = Field(0.1, ge=0)
    max_ratings: int | None = Field(None, ge=1)


def build_trainset(user_idx: np.ndarray, item_idx: np.ndarray, rating: np.ndarray,
                   rating_scale: tuple[float, float]):
    """A Surprise Trainset whose raw ids are our dense indices, built without a DataFrame round trip.

    Inner ids are ranks among the rated users/items (Surprise wants them contiguous).
    Returns (trainset, user_inner, item_inner) where *_inner[dense] is the inner id or -1.
    """
    from surprise import Trainset

    users, u_inner = np.unique(user_idx, return_inverse=True)
    items, i_inner = np.unique(item_idx, return_inverse=True)
    order = np.argsort(u_inner, kind="stable")
    u_sorted, i_sorted, r_sorted = u_inner[order], i_inner[order].tolist(), rating[order].astype(float).tolist()
    bounds = np.searchsorted(u_sorted, np.arange(users.shape[0] + 1)).tolist()
    ur = {u: list(zip(i_sorted[a:b], r_sorted[a:b], strict=True))
          for u, (a, b) in enumerate(zip(bounds[:-1], bounds[1:], strict=True))}
    order_i = np.argsort(i_inner, kind="stable")
    ui_sorted, uu_sorted = i_inner[order_i], u_inner[order_i].tolist()
    ri_sorted = rating[order_i].astype(float).tolist()
    bounds_i = np.searchsorted(ui_sorted, np.arange(items.shape[0] + 1)).tolist()
    ir = {i: list(zip(uu_sorted[a:b], ri_sorted[a:b], strict=True))
          for i, (a, b) in enumerate(zip(bounds_i[:-1], bounds_i[1:], strict=True))}
    trainset = Trainset(ur, ir, users.shape[0], items.shape[0], int(rating.shape[0]), tuple(rating_scale),
                        {int(u): k for k, u in enumerate(users)}, {int(i): k for k, i in enumerate(items)})
    return trainset, users, items


class SurpriseSVD(ExplicitRatingModel[SurpriseSVDConfig]):
    """r_ui = mu + b_u + b_i + p_u . q_i, trained by Surprise's SGD, scored in numpy."""

    name: ClassVar[str] = "surprise_svd"

    def __init__(self, config: SurpriseSVDConfig | None = None) -> None:
        self.config = config or SurpriseSVDConfig()

    def fit(self, data: Interactions, ctx: FitContext) -> Self:
        from surprise import SVD

        cfg = self.config
        u, i, r = data.user_idx, data.item_idx, data.rating
        if cfg.max_ratings is not None and data.n_ratings > cfg.max_ratings:
            keep = np.sort(ctx.rng.choice(data.n_ratings, cfg.max_ratings, replace=False))
            u, i, r = u[keep], i[keep], r[keep]
            log.info("surprise_svd: subsampled %d of %d ratings (max_ratings)", cfg.max_ratings, data.n_ratings)
        trainset, users, items = build_trainset(u, i, r, data.rating_scale)
        seed = int(ctx.rng.integers(2**31 - 1))
        algo = SVD(n_factors=cfg.n_factors, n_epochs=cfg.n_epochs, lr_all=cfg.lr_all, reg_all=cfg.reg_all,
                   biased=cfg.biased, init_std_dev=cfg.init_std_dev, random_state=seed, verbose=False)
        log.info("surprise_svd: fitting %d factors x %d epochs on %d ratings", cfg.n_factors, cfg.n_epochs, len(r))
        algo.fit(trainset)

        self.algo_ = algo  # kept for the equality test against Surprise's own predict()
        self._user_inner = np.full(data.n_users, -1, dtype=np.int64)
        self._user_inner[users] = np.arange(users.shape[0])
        self._item_inner = np.full(data.n_items, -1, dtype=np.int64)
        self._item_inner[items] = np.arange(items.shape[0])
        k = cfg.n_factors
        # dense-index arrays; unknown rows are zero, so they add nothing (as in Surprise)
        self._P = np.zeros((data.n_users, k))
        self._P[users] = algo.pu
        self._Q = np.zeros((data.n_items, k))
        self._Q[items] = algo.qi
        bu = np.zeros(data.n_users)
        bi = np.zeros(data.n_items)
        if cfg.biased:
            bu[users] = algo.bu
            bi[items] = algo.bi
        mu = float(trainset.global_mean) if cfg.biased else 0.0
        if not (np.isfinite(self._P).all() and np.isfinite(self._Q).all()):
            raise ModelError("surprise_svd: non-finite factors")
        self._set_fitted(data, mu, bu, bi)
        return self

    def _fallback(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        if not self.config.biased:  # Surprise's unbiased SVD answers the global mean for unknowns
            return np.full(users.shape, float(self.algo_.trainset.global_mean))
        return super()._fallback(users, items)

    def _estimate(self, users: np.ndarray, items: np.ndarray, chunk: int = 131_072) -> np.ndarray:
        """Surprise's rule: the dot product counts only when both sides were in training."""
        both = (self._user_inner[users] >= 0) & (self._item_inner[items] >= 0)
        est = self._mu + self._bu[users] + self._bi[items]
        for s in range(0, users.shape[0], chunk):  # bounds the (chunk x n_factors) gathers
            u, i = users[s : s + chunk], items[s : s + chunk]
            est[s : s + chunk] += np.where(both[s : s + chunk], np.einsum("nk,nk->n", self._P[u], self._Q[i]), 0.0)
        if not self.config.biased:
            est = np.where(both, est, float(self.algo_.trainset.global_mean))
        return est

    def _score_block(self, users: np.ndarray) -> np.ndarray:
        est = self._mu + self._bu[users][:, None] + self._bi[None, :] + self._P[users] @ self._Q.T
        if not self.config.biased:
            known = (self._user_inner[users] >= 0)[:, None] & (self._item_inner >= 0)[None, :]
            est = np.where(known, est, float(self.algo_.trainset.global_mean))
        return est


def model_for(inputs: ModelInputs) -> SurpriseSVD:
    """20 factors and 5 epochs for `--quick`."""
    return SurpriseSVD(SurpriseSVDConfig(n_factors=20, n_epochs=5) if inputs.quick else SurpriseSVDConfig())


SPEC = ModelSpec("surprise_svd", model_for, rating=True, description="scikit-surprise SVD")
