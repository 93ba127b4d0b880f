"""k-fold cross-validation of rating predictors: RMSE, MAE and fit time per fold.

Folds are a random partition of the rating rows (every rating in exactly one test fold),
drawn from the caller's generator, like scikit-learn's KFold(shuffle=True).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import numpy as np

from latentlens.build.evaluate.metrics import mae, rmse
from latentlens.build.interactions import Interactions
from latentlens.build.progress import get_logger, progress

if TYPE_CHECKING:
    from latentlens.build.models.base import FitContext

log = get_logger(__name__)


class RatingFit(Protocol):
    """What cross-validation needs of a model: a fit, then predictions (capabilities.RatingPredictor)."""

    def fit(self, data: Interactions, ctx: FitContext) -> object: ...

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray: ...


def kfold_splits(n_ratings: int, k: int, rng: np.random.Generator) -> list[np.ndarray]:
    """k disjoint, sorted arrays of test-row indices covering 0..n_ratings-1; sizes differ by <= 1."""
    if not 2 <= k <= max(n_ratings, 2):
        raise ValueError(f"k must be in 2..n_ratings, got k={k} for {n_ratings} ratings")
    perm = rng.permutation(n_ratings)
    return [np.sort(part) for part in np.array_split(perm, k)]


def cross_validate(
    model_factory: Callable[[], RatingFit], data: Interactions, k: int, ctx: FitContext,
) -> dict:
    """Fit a fresh model on each k-1 folds, predict the held-out fold.

    Returns {"rmse": [...], "mae": [...], "fit_seconds": [...], "rmse_mean", "mae_mean",
    "fit_seconds_mean", "k"}. The folds and every model's randomness come from `ctx.rng`.
    """
    folds = kfold_splits(data.n_ratings, k, ctx.rng)
    out: dict = {"k": k, "rmse": [], "mae": [], "fit_seconds": []}
    for f, test_rows in enumerate(progress(folds, desc="cv folds", show=ctx.show_progress, total=k, unit="fold")):
        mask = np.ones(data.n_ratings, dtype=bool)
        mask[test_rows] = False
        train, test = data.subset(mask), data.subset(~mask)
        model = model_factory()
        t0 = time.perf_counter()
        model.fit(train, ctx)
        seconds = time.perf_counter() - t0
        pred = model.predict(test.user_idx, test.item_idx)
        out["rmse"].append(rmse(pred, test.rating))
        out["mae"].append(mae(pred, test.rating))
        out["fit_seconds"].append(seconds)
        log.info("fold %d/%d %s: rmse=%.4f mae=%.4f fit=%.2fs", f + 1, k, getattr(model, "name", "?"),
                 out["rmse"][-1], out["mae"][-1], seconds)
    for key in ("rmse", "mae", "fit_seconds"):
        out[f"{key}_mean"] = float(np.mean(out[key]))
    return out
