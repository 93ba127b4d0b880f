"""The chores every explicit-rating model shares (fallback for unknown ids, clipping to the scale),
so each model only writes its own estimate; its `predict` makes it a capabilities.RatingPredictor."""

from __future__ import annotations

import numpy as np

from latentlens.build.interactions import Histories, Interactions
from latentlens.build.models.base import ConfigT, ModelError, Recommender


class ExplicitRatingModel(Recommender[ConfigT]):
    """Shared chores of explicit-rating models: scale, clipping, unknown-id fallback.

    Subclasses set `_mu`, `_bu`, `_bi` (the fallback for a pair whose user or item is unknown
    is whatever of mu + bu + bi is known) and implement `_estimate` for known pairs and
    `_score_block` for a batch of known users against every item.
    """

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

    def score_users(self, users: np.ndarray, histories: Histories) -> np.ndarray:
        """Estimated rating of every item, NOT clipped: clipping would tie every item above the
        top of the scale and top-n would then rank them by index. Clip for display; an unknown
        user (-1) gets mu + bi. What a rating model learned is per user: the histories are not read."""
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
