"""Hybrid: collaborative (EASE), content and popularity scores blended per user.

The hybrid ranks EASE's candidates (the most-rated items, all rated ones on small data).
Each component's scores are z-scored over those items in each user's row, so the weights
mean the same for every user, then summed with weights. With weights "auto" the fit
carves a temporal validation holdout from the training data, fits the components on the
rest (on a sample of users when `validation_fit_users` is set), picks the weights with the
best NDCG@10 on a small grid, and refits on everything. Users unknown to the model, or with
fewer than `min_ratings` ratings in their history, get the popularity list: collaborative scores
from a handful of ratings are noise.
"""

from __future__ import annotations

import itertools
from typing import ClassVar, Literal, Self

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from latentlens.build.evaluate.metrics import hit_matrix, ndcg_at
from latentlens.build.evaluate.splits import temporal_holdout
from latentlens.build.evaluate.topn import relevant_matrix
from latentlens.build.interactions import Histories, Interactions
from latentlens.build.models.base import FitContext, ModelConfig, Recommender
from latentlens.build.models.content import ContentConfig, ContentKNN, shared_features
from latentlens.build.models.ease import EASE, EASEConfig
from latentlens.build.models.ease import config_for as ease_config_for
from latentlens.build.models.fit_cache import FitCache
from latentlens.build.models.popularity import Popularity, PopularityConfig
from latentlens.build.models.ranking import spread_to_catalogue, top_n
from latentlens.build.models.spec import ModelInputs, ModelSpec
from latentlens.build.progress import get_logger, progress
from latentlens.build.sampling import sample_users

log = get_logger(__name__)

COMPONENTS = ("cf", "content", "popularity")


class HybridConfig(ModelConfig):
    cf: EASEConfig = EASEConfig()
    content: ContentConfig = ContentConfig()
    popularity: PopularityConfig = PopularityConfig()
    # {"cf": w, "content": w, "popularity": w} or "auto" (validation grid search)
    weights: dict[str, float] | Literal["auto"] = "auto"
    # cf weight is fixed at 1. On ml-latest-small validation, content 0.01 helps a little
    # (NDCG@10 0.1397 vs 0.1384) and any popularity hurts (EASE already knows popularity);
    # weights of 0.1 and more cost 0.03 or more, hence the fine grid.
    content_grid: tuple[float, ...] = (0.0, 0.01, 0.02, 0.05, 0.1)
    popularity_grid: tuple[float, ...] = (0.0, 0.01, 0.02, 0.05, 0.1)
    validation_fraction: float = Field(0.2, gt=0.0, lt=1.0)
    max_validation_users: int = Field(2_000, ge=1)  # sampled with ctx.rng: 25 grid points x top-n each
    # Fit the validation components on at most this many users' ratings (None: all). EASE's
    # Gram costs in proportion to users; the weights are a 2-number choice a sample settles.
    validation_fit_users: int | None = Field(None, ge=1)
    min_ratings: int = Field(3, ge=0)               # fewer rated items in the history -> popularity
    # per-user normalisation of each component (min-max gave the same validation NDCG)
    normalise: Literal["zscore", "minmax"] = "zscore"
    k: int = Field(10, ge=1)                        # cut-off of the validation NDCG
    relevance_threshold: float = 4.0                # validation ratings at least this are relevant


def minmax_rows(scores: np.ndarray) -> np.ndarray:
    """Rescale each row to [0, 1]; constant rows become 0."""
    lo = scores.min(axis=1, keepdims=True)
    span = scores.max(axis=1, keepdims=True) - lo
    return np.divide(scores - lo, span, out=np.zeros_like(scores), where=span > 0)


def zscore_rows(scores: np.ndarray) -> np.ndarray:
    """(scores - row mean) / row std; constant rows become 0."""
    mean = scores.mean(axis=1, keepdims=True)
    std = scores.std(axis=1, keepdims=True)
    return np.divide(scores - mean, std, out=np.zeros_like(scores), where=std > 0)


class Hybrid(Recommender[HybridConfig]):
    """Weighted blend of z-scored EASE, content and popularity scores; popularity for cold users."""

    name: ClassVar[str] = "hybrid"

    def __init__(self, config: HybridConfig | None = None, features: sp.csr_matrix | None = None,
                 fits: FitCache | None = None) -> None:
        self.config = config or HybridConfig()
        if features is None:
            raise ValueError("hybrid: pass features=item_features(data, interactions.items, config.content)")
        self.features = features
        self.fits = fits or FitCache()  # the build shares one, so EASE and content fits are reused

    def _components(self, data: Interactions, ctx: FitContext, fits: FitCache) -> dict[str, Recommender]:
        return {
            "cf": fits.fit(EASE(self.config.cf), data, ctx),
            "content": fits.fit(ContentKNN(self.config.content, self.features, self.fits), data, ctx),
            "popularity": fits.fit(Popularity(self.config.popularity), data, ctx),
        }

    def fit(self, data: Interactions, ctx: FitContext) -> Self:
        if self.config.weights == "auto":
            self.weights_, self.validation_ = self._choose_weights(data, ctx)
        else:
            self.weights_ = {c: float(self.config.weights.get(c, 0.0)) for c in COMPONENTS}
            self.validation_ = {}
        log.info("hybrid weights: %s", self.weights_)
        self.components_ = self._components(data, ctx, self.fits)
        self._item_popularity = self.components_["popularity"].cold_scores()  # Popularity's scores_
        return self

    def _choose_weights(self, data: Interactions, ctx: FitContext) -> tuple[dict[str, float], dict[str, float]]:
        """Grid search on a temporal validation holdout of `data`; returns weights and NDCG per grid point."""
        train, val = temporal_holdout(data, self.config.validation_fraction)
        sampled = sample_users(train, self.config.validation_fit_users, ctx.rng)
        if sampled is not train:
            kept = np.zeros(train.n_users, dtype=bool)
            kept[sampled.user_idx] = True
            train, val = sampled, val.subset(kept[val.user_idx])
            log.info("hybrid: validation fit on %d sampled users", self.config.validation_fit_users)
        parts = self._components(train, ctx, FitCache())  # an inner split: nothing to share
        cand = parts["cf"].candidates()
        assert cand is not None  # EASE ranks its most-rated items
        relevant = relevant_matrix(val, self.config.relevance_threshold)
        users = np.flatnonzero(np.diff(relevant.indptr) > 0)
        n_train = np.bincount(train.user_idx, minlength=train.n_users)
        users = users[n_train[users] >= self.config.min_ratings]
        if users.shape[0] > self.config.max_validation_users:
            users = np.sort(ctx.rng.choice(users, self.config.max_validation_users, replace=False))
        grid = [{"cf": 1.0, "content": c, "popularity": p}
                for c, p in itertools.product(self.config.content_grid, self.config.popularity_grid)]
        k = self.config.k
        totals = np.zeros(len(grid))
        batch = 512
        starts = range(0, users.shape[0], batch)
        for start in progress(starts, desc="hybrid weights", show=ctx.show_progress, total=len(starts), unit="batch"):
            b = users[start : start + batch]
            histories = train.histories.rows(b)
            z = self._normalised(parts, b, histories, cand)
            seen = histories.ratings[:, cand]
            rel = relevant[b]
            n_rel = np.diff(rel.indptr)
            for g, w in enumerate(grid):
                blended = sum(w[c] * z[c] for c in COMPONENTS if w[c])
                assert isinstance(blended, np.ndarray)  # never the empty sum's 0: cf's weight is 1
                pos, _ = top_n(blended, k, seen)
                items = np.where(pos >= 0, cand[np.maximum(pos, 0)], -1)
                totals[g] += ndcg_at(hit_matrix(items, rel), n_rel, k).sum()
        ndcg = totals / max(users.shape[0], 1)
        best = int(np.argmax(ndcg))  # ties: the first (smallest) weights
        scores = {f"c{w['content']}_p{w['popularity']}": float(v) for w, v in zip(grid, ndcg, strict=True)}
        log.info("hybrid validation: best %s ndcg@%d=%.4f over %d users", grid[best], k, ndcg[best], users.shape[0])
        return grid[best], scores

    def chosen(self) -> dict:
        return {"weights": dict(self.weights_)}

    def tuned_config(self) -> HybridConfig:
        return self.config.model_copy(update={"weights": dict(self.weights_)})

    def _normalise(self, scores: np.ndarray) -> np.ndarray:
        return zscore_rows(scores) if self.config.normalise == "zscore" else minmax_rows(scores)

    def _normalised(self, parts: dict[str, Recommender], users: np.ndarray, histories: Histories, cand: np.ndarray,
                    components: tuple[str, ...] = COMPONENTS) -> dict[str, np.ndarray]:
        """The named components' scores of the candidate items, normalised per user."""
        return {c: self._normalise(parts[c].score_candidates(users, histories) if c == "cf"
                                   else parts[c].score_items(users, histories, cand))
                for c in components}

    def candidates(self) -> np.ndarray:
        cand = self.components_["cf"].candidates()
        assert cand is not None  # EASE ranks its most-rated items
        return cand

    def score_candidates(self, users: np.ndarray, histories: Histories) -> np.ndarray:
        users = np.asarray(users, dtype=np.int64)
        cand = self.candidates()
        cold = (users < 0) | (histories.counts < self.config.min_ratings)
        scores = np.empty((users.shape[0], cand.shape[0]), dtype=np.float32)
        scores[cold] = self._item_popularity[cand]
        warm = np.flatnonzero(~cold)
        if warm.size:
            weighted = tuple(c for c in COMPONENTS if self.weights_[c])  # a zero weight is never scored
            z = self._normalised(self.components_, users[warm], histories.rows(warm), cand, weighted)
            scores[~cold] = sum(self.weights_[c] * z[c] for c in weighted)
        return scores

    def score_users(self, users: np.ndarray, histories: Histories) -> np.ndarray:
        """Candidates' scores; every other item just below the row's lowest, ranked last."""
        return spread_to_catalogue(self.score_candidates(users, histories), self.candidates(),
                                   self._item_popularity.shape[0])


def model_for(inputs: ModelInputs) -> Hybrid:
    """`--quick`: the weights validation chose on ml-latest-small, no grid search. Large: EASE's large
    config and the validation fit on a sample of users."""
    protocol = {"k": inputs.k, "relevance_threshold": inputs.relevance_threshold}
    if inputs.quick:
        config = HybridConfig(cf=ease_config_for(inputs), weights={"cf": 1.0, "content": 0.01, "popularity": 0.0},
                              **protocol)
    elif inputs.large:
        config = HybridConfig(cf=ease_config_for(inputs), validation_fit_users=30_000, **protocol)
    else:
        config = HybridConfig(**protocol)
    return Hybrid(config, features=shared_features(inputs), fits=inputs.fits)


SPEC = ModelSpec("hybrid", model_for, description="EASE + content + popularity, weights chosen on validation")
