"""What each protocol of a build trains and tests on, and what was sampled to get there.

Top-N: the temporal holdout (each user's latest ratings) of every user, or of a uniform
sample of users (`max_eval_users`); only the evaluated users give ratings to test, so every
other user's whole history is training data (the sampled users keep their full training
history, and the top-N training split is nearly the shipped models' data: the retrain may
reuse those fits, build/stages/retrain.py). Rating prediction, small plan: k-fold CV over every
rating (or a uniform sample, `--cv-max-ratings`). Rating prediction, large plan (`holdout`):
one split whose training data keeps the real density. A uniform sample of users is drawn
among those the top-N protocol does not evaluate; a share of each one's ratings is held out;
models whose fit cost is linear in the ratings (`linear_fit`) train on every other rating of
the top-N training split, which then lacks those held-out ratings too, so a model evaluated
on both protocols fits once; the others (kNN, Surprise, the blend) train on every other
rating of the sampled users (whole histories, so each user is as dense as in the full data).
Every model is scored on the same held-out ratings, with a standard error clustered by user.
The pipeline and `tests/data/test_synth_calibration.py` both call `evaluation_data`, so the
calibration runs the build's protocol, not a copy of it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from latentlens.build.evaluate.splits import held_out_counts, temporal_holdout
from latentlens.build.interactions import Interactions
from latentlens.build.sampling import sample_ratings
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

    def interactions(self) -> list[Interactions]:
        """Every split held here (some may be the same object, or the full data for cv_data)."""
        h = self.rating_holdout
        return [self.train, self.test, self.cv_data, *((h.test, h.train_all, h.train_sampled) if h else ())]

    def caption(self) -> str:
        """One line under the comparison table: both protocols and every sample behind them."""
        n_eval = self.sampled.get("topn_eval_users")
        topn = "top-N: temporal holdout, " + (f"{n_eval:,} sampled users (full training history)"
                                                if n_eval else "every user")
        h = self.rating_holdout
        if n_eval and h is None:
            topn += f", trained on all {self.train.n_ratings:,} other ratings"
        if h is not None:
            others = " other" if n_eval else ""
            rating = (f"rating: one holdout of {h.test.n_ratings:,} ratings of {h.n_users:,}{others} sampled users; "
                      f"one training split of all {self.train.n_ratings:,} other ratings for both protocols "
                      f"(top-N and linear-cost rating models), or the rating users' other "
                      f"{h.train_sampled.n_ratings:,} (kNN, Surprise, blend); "
                      "rmse_se = standard error clustered by user")
        elif "cv_ratings" in self.sampled:
            rating = f"rating: {self.folds}-fold CV on a uniform sample of {self.sampled['cv_ratings']:,} ratings"
        else:
            rating = f"rating: {self.folds}-fold CV on every rating"
        return f"{topn}; {rating}"


def evaluation_data(full: Interactions, evaluation: EvaluationSettings, seed: int) -> EvaluationData:
    """Both protocols' data from the seed: the same seed gives the same splits and samples."""
    sampler = np.random.default_rng([seed, 1])
    sampled: dict[str, int] = {}
    evaluated = topn_users(full, evaluation.max_eval_users, sampler)
    train, test = temporal_holdout(full, evaluation.test_fraction, users=evaluated)
    if evaluated is not None:
        sampled["topn_eval_users"] = int(evaluated.sum())
    holdout = None
    cv_data = full
    if evaluation.rating_holdout_users is not None:
        # drawn from the top-N training split among the users the top-N protocol does not evaluate,
        # so one training set serves both protocols: a model on both (biased_mf) fits once
        not_evaluated = None if evaluated is None else ~evaluated
        holdout = rating_holdout(train, evaluation.rating_holdout_users, evaluation.rating_holdout_fraction,
                                 np.random.default_rng([seed, 3]), among=not_evaluated)
        train = holdout.train_all
        sampled["rating_holdout_users"] = holdout.n_users
        sampled["rating_holdout_ratings"] = holdout.test.n_ratings
        sampled["rating_sampled_train_ratings"] = holdout.train_sampled.n_ratings
    else:
        cv_data = sample_ratings(full, evaluation.cv_max_ratings, sampler)
        if cv_data is not full:
            sampled["cv_ratings"] = cv_data.n_ratings
    if evaluated is not None:
        sampled["topn_train_ratings"] = train.n_ratings
    return EvaluationData(train, test, cv_data, holdout, sampled, evaluation.folds)


def topn_users(full: Interactions, max_users: int | None, rng: np.random.Generator) -> np.ndarray | None:
    """Which users the top-N holdout evaluates: a mask of `max_users` drawn uniformly among those
    with a rating to hold out (>= 2), or None for every user when there are no more than that."""
    eligible = holdout_eligible(full)
    if max_users is None or eligible.size <= max_users:
        return None
    mask = np.zeros(full.n_users, dtype=bool)
    mask[rng.choice(eligible, max_users, replace=False)] = True
    return mask


def holdout_eligible(data: Interactions, among: np.ndarray | None = None) -> np.ndarray:
    """Users who can give a rating to a holdout and keep one (>= 2 ratings), within the mask `among`."""
    counts = np.bincount(data.user_idx, minlength=data.n_users)
    return np.flatnonzero((counts >= 2) & (True if among is None else among))


def rating_holdout(full: Interactions, n_users: int, fraction: float, rng: np.random.Generator,
                   among: np.ndarray | None = None) -> RatingHoldout:
    """Hold out `fraction` of the ratings (at least 1, never all) of `n_users` users drawn
    uniformly among those with >= 2 ratings (and in the mask `among`, when given); see the
    module doc for the two training sets."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"rating holdout fraction must be in (0, 1), got {fraction}")
    counts = np.bincount(full.user_idx, minlength=full.n_users)
    eligible = holdout_eligible(full, among)
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
    n_test = held_out_counts(per_user, fraction)  # every sampled user has >= 2 ratings
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
