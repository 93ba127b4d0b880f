"""Global mean plus regularised user and item biases: the floor every rating model must beat."""

from __future__ import annotations

from typing import ClassVar, Self

import numpy as np
from pydantic import Field

from latentlens.build.interactions import Interactions
from latentlens.build.models.base import FitContext, ModelConfig
from latentlens.build.models.rating_base import ExplicitRatingModel
from latentlens.build.models.spec import ModelInputs, ModelSpec
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


class Baseline(ExplicitRatingModel[BaselineConfig]):
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


def model_for(inputs: ModelInputs) -> Baseline:
    """The same settings at every scale and for `--quick`."""
    return Baseline(BaselineConfig())


SPEC = ModelSpec("baseline", model_for, rating=True, linear_fit=True, calibrates=True,
                 description="global mean + user and item biases")
