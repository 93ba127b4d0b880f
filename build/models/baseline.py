"""Global mean plus regularised user and item biases: the floor every rating model must beat.

Also home of the chores every rating predictor shares (fallback for unknown ids, clipping),
so each model only writes its own estimate.
"""

from __future__ import annotations

from typing import ClassVar, Self

import numpy as np
from pydantic import Field

from latentlens.build.interactions import Interactions
from latentlens.build.models.base import ConfigT, FitContext, ModelConfig, ModelError, Recommender
from latentlens.build.progress import get_logger

log = get_logger(__name__)


class BaselineConfig(ModelConfig):
    """Surprise's `baseline_als` defaults: reg_user 15, reg_item 10, 10 alternations."""

    reg_user: float = Field(15.0, ge=0)
    reg_item: float = Field(10.0, ge=0)
    iterations: int = Field(10, ge=1)


def fit_biases(
    user_idx: np.ndarray, item_idx: np.ndarray, rating: np.ndarray, n_users: int, n_items: int,
    reg_user: float, reg_item: float, iterations: int,
) -> tuple[float, np.ndarray, np.ndarray]:
    """mu, bu, bi by alternating closed-form ridge steps, items first as Surprise's baseline_als.

    bi = sum_u(r - mu - bu) / (reg_item + n_i); then bu = sum_i(r - mu - bi) / (reg_user + n_u).
    Users and items with no rating keep a bias of exactly 0.
    """
    r = rating.astype(np.float64)
    mu = float(r.mean()) if r.size else 0.0
    n_u = np.bincount(user_idx, minlength=n_users).astype(np.float64)
    n_i = np.bincount(item_idx, minlength=n_items).astype(np.float64)
    bu = np.zeros(n_users)
    bi = np.zeros(n_items)
    for _ in range(iterations):
        bi = np.bincount(item_idx, r - mu - bu[user_idx], minlength=n_items) / (reg_item + n_i + (n_i == 0))
        bu = np.bincount(user_idx, r - mu - bi[item_idx], minlength=n_users) / (reg_user + n_u + (n_u == 0))
    return mu, bu, bi


class RatingPredictor(Recommender[ConfigT]):
    """Shared chores of explicit-rating models: scale, clipping, unknown-id fallback.

    Subclasses set `_mu`, `_bu`, `_bi` (the fallback for a pair whose user or item is unknown
    is whatever of mu + bu + bi is known) and implement `_estimate` for known pairs and
    `_score_block` for a batch of known users against every item.
    """

    predicts_ratings: ClassVar[bool] = True
    _scale: tuple[float, float]
    _mu: float
    _bu: np.ndarray
    _bi: np.ndarray

    def _set_fitted(self, data: Interactions, mu: float, bu: np.ndarray, bi: np.ndarray) -> None:
        if not (np.isfinite(mu) and np.isfinite(bu).all() and np.isfinite(bi).all()):
            raise ModelError(f"{self.name}: non-finite biases")
        self._scale = (float(data.rating_scale[0]), float(data.rating_scale[1]))
        self._mu, self._bu, self._bi = float(mu), bu.astype(np.float64), bi.astype(np.float64)
        self._n_users, self._n_items = data.n_users, data.n_items
        self._remember_popularity(data)

    def _check_fitted(self) -> None:
        if not hasattr(self, "_scale"):
            raise ModelError(f"{self.name}: not fitted")

    def _fallback(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """mu + the biases of whichever side is known (0 for the unknown side)."""
        bu = np.where(users >= 0, self._bu[np.maximum(users, 0)], 0.0)
        bi = np.where(items >= 0, self._bi[np.maximum(items, 0)], 0.0)
        return self._mu + bu + bi

    def _estimate(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Unclipped estimate for pairs where both user and item are known (>= 0)."""
        return self._fallback(users, items)

    def _score_block(self, users: np.ndarray) -> np.ndarray:
        """Unclipped (len(users) x n_items) estimates for known users."""
        return self._mu + self._bu[users][:, None] + self._bi[None, :]

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        self._check_fitted()
        users = np.asarray(users, dtype=np.int64)
        items = np.asarray(items, dtype=np.int64)
        out = self._fallback(users, items)
        known = (users >= 0) & (items >= 0)
        if known.any():
            out[known] = self._estimate(users[known], items[known])
        return np.clip(out, *self._scale)

    def score_users(self, users: np.ndarray) -> np.ndarray:
        """Estimated rating of every item, NOT clipped: clipping would tie every item above the
        top of the scale and top-n would then rank them by index. Clip for display; an unknown
        user (-1) gets mu + bi."""
        return self._score_rows(users).astype(np.float32)

    def _score_rows(self, users: np.ndarray) -> np.ndarray:
        """score_users in float64 (what a blend of models combines before rounding)."""
        self._check_fitted()
        users = np.asarray(users, dtype=np.int64)
        out = np.empty((users.shape[0], self._n_items), dtype=np.float64)
        known = users >= 0
        out[~known] = self._mu + self._bi[None, :]
        if known.any():
            out[known] = self._score_block(users[known])
        return out

    def cold_scores(self) -> np.ndarray:
        self._check_fitted()
        return (self._mu + self._bi).astype(np.float32)


class Baseline(RatingPredictor[BaselineConfig]):
    """r_ui = mu + b_u + b_i; the residual base of the kNN model and the blend's anchor."""

    name: ClassVar[str] = "baseline"

    def __init__(self, config: BaselineConfig | None = None) -> None:
        self.config = config or BaselineConfig()

    def fit(self, data: Interactions, ctx: FitContext) -> Self:
        cfg = self.config
        mu, bu, bi = fit_biases(data.user_idx, data.item_idx, data.rating, data.n_users, data.n_items,
                                cfg.reg_user, cfg.reg_item, cfg.iterations)
        self._set_fitted(data, mu, bu, bi)
        log.debug("baseline: mu=%.4f on %d ratings", mu, data.n_ratings)
        return self
