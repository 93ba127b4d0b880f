"""Settings that follow the size of the data: exact on small sets, minutes at ML-25M.

ml-latest-small (100k ratings) is evaluated on everything with the models' full settings.
From `LARGE_RATINGS` on, the build switches to the *large* plan: the same models and the same
protocols, but evaluated on samples (held-out users, CV ratings, fewer folds) and with the
few settings whose cost grows faster than the data capped (EASE's dense item count, the
hybrid's validation fit, the kNN rating models' neighbourhoods). Every choice is logged to
MLflow; `--scale small|large` forces a plan, and evaluation flags given on the command line
always win over the plan.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from latentlens.build.settings import EvaluationSettings, Scale, ScaleChoice

if TYPE_CHECKING:
    from latentlens.build.models.registry import ModelSpec

# ML-1M and ml-latest-small stay "small"; ML-10M and ML-25M are "large".
LARGE_RATINGS = 5_000_000


@dataclass(frozen=True)
class ScalePlan:
    """What a scale changes in the evaluation protocol (an empty dict: nothing)."""

    scale: Scale
    evaluation: dict[str, int | None]
    # The rating champion's final fit on a uniform sample of at most this many ratings, unless
    # its spec is `linear_fit` (None: all). The kNN neighbourhoods cost the sum over users of
    # (ratings)^2, ~17 min for knn_baseline at ML-25M; on 5M sampled ratings ~1/25 of that.
    rating_fit_max_ratings: int | None = None
    # Rating models whose fit cost is superlinear (kNN) or slow per rating (Surprise: ~200 s and
    # 13 GB at 20M ratings) skip the top-N protocol: their RMSE comes from the sampled CV, and
    # ranking by predicted rating is never the top-N champion anyway (docs/build.md).
    topn_for_rating_models: bool = True
    # The retrain may take an item-side model (EASE's weights, item-kNN's neighbours) from its
    # evaluation fit when the top-N training split holds at least this share of all ratings
    # (only the sampled evaluation users' latest are missing); None: always refit on all data.
    reuse_fits_from_share: float | None = None

    def reuses_fits(self, train_ratings: int, all_ratings: int) -> bool:
        """Whether final item-side models may be the evaluation's fits (FitCache.allow_stand_in)."""
        share = self.reuse_fits_from_share
        return share is not None and train_ratings >= share * all_ratings

    def apply(self, evaluation: EvaluationSettings) -> EvaluationSettings:
        """The plan's evaluation settings, except those the user set explicitly (--folds or
        --cv-max-ratings given: the user asked for k-fold CV, so no rating holdout)."""
        chosen: dict[str, Any] = {k: v for k, v in self.evaluation.items() if k not in evaluation.explicit}
        if evaluation.explicit & {"folds", "cv_max_ratings"}:
            chosen.pop("rating_holdout_users", None)
        return replace(evaluation, **chosen)

    def runs_topn(self, spec: ModelSpec) -> bool:
        """Whether `spec` is evaluated on the top-N protocol under this plan."""
        return spec.topn and (self.topn_for_rating_models or not spec.rating or spec.linear_fit)

    def final_fit_max_ratings(self, spec: ModelSpec) -> int | None:
        """How many ratings the final fit of the rating champion `spec` may use (None: all)."""
        return None if spec.linear_fit else self.rating_fit_max_ratings


def choose_scale(requested: ScaleChoice, n_ratings: int) -> Scale:
    if requested != "auto":
        return requested
    return "large" if n_ratings >= LARGE_RATINGS else "small"


def plan_for(scale: Scale) -> ScalePlan:
    if scale == "small":
        return ScalePlan("small", {})
    # 5,000 users put NDCG@10's standard error near 0.003 (model gaps at ML-25M are larger).
    # Rating models: one holdout of 10% of 20,000 sampled users' ratings, trained at the real
    # density (build/evaluate/protocol.py). 3-fold CV on a 1M-rating sample, the previous plan,
    # left ~6 ratings per user and ranked MF and kNN below the bias baseline; it is still what
    # an explicit --folds / --cv-max-ratings asks for.
    return ScalePlan("large", {"folds": 3, "max_eval_users": 5_000, "cv_max_ratings": 1_000_000,
                               "rating_holdout_users": 20_000},
                     rating_fit_max_ratings=5_000_000, topn_for_rating_models=False,
                     # 5,000 users' latest 20% are 0.6% of ML-25M's ratings, 3% of synthetic 5M's
                     reuse_fits_from_share=0.95)
