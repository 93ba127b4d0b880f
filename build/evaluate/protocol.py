"""What each protocol of a build trains and tests on, and what was sampled to get there.

Top-N: the temporal holdout (each user's latest ratings) of every user, scored on all held-out
users or a uniform sample of them; every model trains on all the training ratings, so the
sampled users keep their full history. Rating prediction, small plan: k-fold CV over every
rating (or a uniform sample, `--cv-max-ratings`). Rating prediction, large plan (`holdout`):
one split whose training data keeps the real density. A uniform sample of users is drawn; a
share of each one's ratings is held out; models whose fit cost is linear in the ratings
(`linear_fit`) train on every other rating of the data set, the others (kNN, Surprise, the
blend) on every other rating of the sampled users (whole histories, so each user is as dense
as in the full data). Every model is scored on the same held-out ratings, with a standard
error clustered by user. The pipeline and `tests/data/test_synth_calibration.py` both call
`evaluation_data`, so the calibration runs the build's protocol, not a copy of it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from latentlens.build.sampling import sample_ratings
from latentlens.build.evaluate.splits import temporal_holdout
from latentlens.build.interactions import Interactions
from latentlens.build.sampling import sample_users
from latentlens.build.settings import EvaluationSettings


@dataclass(frozen=True)
class RatingHoldout:
    """The large plan's rating split: one test set, two training sets (see the module doc)."""

    test: Interactions
    train_all: Interactions      # every rating but the test ones: linear-cost models
    train_sampled: Interactions  # the sampled users' other ratings: superlinear models
    n_users: int                 # users sampled

    def train_for(self, linear_fit: bool) -> Interactions:
        return self.train_all if linear_fit else self.train_sampled


@dataclass(frozen=True)
class EvaluationData:
    train: Interactions          # top-N training: every user's ratings before their holdout
    test: Interactions           # top-N held-out ratings of the evaluation users
    cv_data: Interactions        # k-fold CV data (unused when `rating_holdout` is set)
    rating_holdout: RatingHoldout | None
    sampled: dict[str, int]      # what was sampled, by name: logged to MLflow, shown in the caption
    folds: int

    def caption(self) -> str:
        """One line under the comparison table: both protocols and every sample behind them."""
        n_eval = self.sampled.get("topn_eval_users")
        topn = "top-N: temporal holdout, " + (f"{n_eval:,} sampled users (full training history)"
                                                if n_eval else "every user")
        h = self.rating_holdout
        if h is not None:
            rating = (f"rating: one holdout of {h.test.n_ratings:,} ratings of {h.n_users:,} sampled users, "
                      f"trained on all {h.train_all.n_ratings:,} other ratings (linear-cost models) or on "
                      f"those users' other {h.train_sampled.n_ratings:,} (kNN, Surprise, blend); "
                      "rmse_se = standard error clustered by user")
        elif "cv_ratings" in self.sampled:
            rating = f"rating: {self.folds}-fold CV on a uniform sample of {self.sampled['cv_ratings']:,} ratings"
        else:
            rating = f"rating: {self.folds}-fold CV on every rating"
        return f"{topn}; {rating}"


def evaluation_data(full: Interactions, evaluation: EvaluationSettings, seed: int) -> EvaluationData:
    """Both protocols' data from the seed: the same seed gives the same splits and samples."""
    train, test = temporal_holdout(full, evaluation.test_fraction)
    sampler = np.random.default_rng([seed, 1])
    sampled: dict[str, int] = {}
    eval_test = sample_users(test, evaluation.max_eval_users, sampler)
    if eval_test is not test:
        sampled["topn_eval_users"] = int(np.unique(eval_test.user_idx).size)
    holdout = None
    cv_data = full
    if evaluation.rating_holdout_users is not None:
        holdout = rating_holdout(full, evaluation.rating_holdout_users, evaluation.rating_holdout_fraction,
                                 np.random.default_rng([seed, 3]))
        sampled["rating_holdout_users"] = holdout.n_users
        sampled["rating_holdout_ratings"] = holdout.test.n_ratings
        sampled["rating_sampled_train_ratings"] = holdout.train_sampled.n_ratings
    else:
        cv_data = sample_ratings(full, evaluation.cv_max_ratings, sampler)
        if cv_data is not full:
            sampled["cv_ratings"] = cv_data.n_ratings
    return EvaluationData(train, eval_test, cv_data, holdout, sampled, evaluation.folds)


def rating_holdout(full: Interactions, n_users: int, fraction: float, rng: np.random.Generator) -> RatingHoldout:
    """Hold out `fraction` of the ratings (at least 1, never all) of `n_users` users drawn
    uniformly among those with >= 2 ratings; see the module doc for the two training sets."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"rating holdout fraction must be in (0, 1), got {fraction}")
    counts = np.bincount(full.user_idx, minlength=full.n_users)
    eligible = np.flatnonzero(counts >= 2)
    chosen = np.zeros(full.n_users, dtype=bool)
    chosen[rng.choice(eligible, min(n_users, eligible.size), replace=False)] = True
    in_sample = chosen[full.user_idx]
    rows = np.flatnonzero(in_sample)
    # a random rank per rating within its user: the lowest round(fraction * n) go to test
    order = np.lexsort((rng.random(rows.size), full.user_idx[rows]))
    users_sorted = full.user_idx[rows[order]]
    starts = np.searchsorted(users_sorted, users_sorted)
    rank = np.arange(rows.size) - starts
    per_user = counts[users_sorted]
    n_test = np.clip(np.floor(fraction * per_user + 0.5).astype(np.int64), 1, per_user - 1)
    is_test = np.zeros(full.n_ratings, dtype=bool)
    is_test[rows[order][rank < n_test]] = True
    return RatingHoldout(test=full.subset(is_test), train_all=full.subset(~is_test),
                         train_sampled=full.subset(in_sample & ~is_test), n_users=int(chosen.sum()))


def clustered_rmse(pred: np.ndarray, truth: np.ndarray, user_idx: np.ndarray) -> tuple[float, float]:
    """(RMSE, its standard error) with the ratings of one user treated as one cluster: a user's
    errors are correlated (one bias, one taste), so a per-rating SE would be too small.
    Delta method on the MSE: se(RMSE) = se(MSE) / (2 RMSE)."""
    sq = (np.asarray(pred, np.float64) - truth) ** 2
    mse = float(sq.mean())
    users, inverse = np.unique(user_idx, return_inverse=True)
    per_user = np.bincount(inverse, weights=sq - mse)
    n = sq.size
    se_mse = float(np.sqrt(users.size / max(users.size - 1, 1) * (per_user ** 2).sum()) / n)
    rmse = float(np.sqrt(mse))
    return rmse, se_mse / (2 * rmse) if rmse > 0 else 0.0
