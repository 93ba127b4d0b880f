"""Hybrid: collaborative (EASE), content, popularity and sequence (transitions) scores blended per user.

The hybrid ranks EASE's candidates (the most-rated items, all rated ones on small data).
Each component's scores are z-scored over those items in each user's row, so the weights
mean the same for every user, then summed with weights. With weights "auto" the fit
carves a temporal validation holdout from the training data, fits the components on the
rest (on a sample of users when `validation_fit_users` is set), picks the weights with the
best NDCG@10 on a small grid, and refits on everything. Users unknown to the model, or with
fewer than `min_ratings` ratings in their history, get the popularity list: collaborative scores
from a handful of ratings are noise. The sequence part (build/models/transitions.py) scores what
people rated next after the user's latest ratings: the only part that sees the history's order.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
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
from latentlens.build.models.transitions import Transitions, TransitionsConfig
from latentlens.build.progress import get_logger, progress
from latentlens.build.sampling import sample_users

log = get_logger(__name__)

COMPONENTS = ("cf", "content", "popularity", "sequence")


class HybridConfig(ModelConfig):
    cf: EASEConfig = EASEConfig()
    content: ContentConfig = ContentConfig()
    popularity: PopularityConfig = PopularityConfig()
    # the order-aware part; None: the hybrid without it (what its gain is measured against)
    sequence: TransitionsConfig | None = TransitionsConfig()
    # {"cf": w, "content": w, "popularity": w, "sequence": w} or "auto" (validation search: Hybrid._search)
    weights: dict[str, float] | Literal["auto"] = "auto"
    # cf's weight is fixed at 1; the others are searched on validation (Hybrid._search). With the sequence
    # part, ml-latest-small's validation chose content 0.3, popularity 0, sequence 0.3 (test NDCG@10 0.148
    # against 0.135 for the same hybrid without it: bench/bench_sequence_gain.py).
    content_grid: tuple[float, ...] = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0)
    popularity_grid: tuple[float, ...] = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3)
    sequence_grid: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0)
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

    @property
    def parts(self) -> tuple[str, ...]:
        """The components this config blends, in COMPONENTS order."""
        return tuple(c for c in COMPONENTS if c != "sequence" or self.config.sequence is not None)

    def _components(self, data: Interactions, ctx: FitContext, fits: FitCache) -> dict[str, Recommender]:
        parts: dict[str, Recommender] = {
            "cf": fits.fit(EASE(self.config.cf), data, ctx),
            "content": fits.fit(ContentKNN(self.config.content, self.features, self.fits), data, ctx),
            "popularity": fits.fit(Popularity(self.config.popularity), data, ctx),
        }
        if self.config.sequence is not None:
            parts["sequence"] = fits.fit(Transitions(self.config.sequence), data, ctx)
        return parts

    def fit(self, data: Interactions, ctx: FitContext) -> Self:
        if self.config.weights == "auto":
            self.weights_, self.validation_ = self._choose_weights(data, ctx)
        else:
            self.weights_ = {c: float(self.config.weights.get(c, 0.0)) for c in self.parts}
            self.validation_ = {}
        log.info("hybrid weights: %s", self.weights_)
        self.components_ = self._components(data, ctx, self.fits)
        self._item_popularity = self.components_["popularity"].cold_scores()  # Popularity's scores_
        return self

    def _choose_weights(self, data: Interactions, ctx: FitContext) -> tuple[dict[str, float], dict[str, float]]:
        """Search on a temporal validation holdout of `data`; returns the weights and NDCG per weighting tried."""
        batches = self._validation_batches(data, ctx)
        k, tried = self.config.k, {}

        def ndcg(weighting: dict[str, float]) -> float:
            key = "_".join(f"{c[0]}{weighting[c]}" for c in self.parts[1:])
            if key not in tried:
                total, n_users = 0.0, 0
                for z, seen, rel, cand in batches:
                    blended = sum(weighting[c] * z[c] for c in self.parts if weighting[c])
                    assert isinstance(blended, np.ndarray)  # never the empty sum's 0: cf's weight is 1
                    pos, _ = top_n(blended, k, seen)
                    items = np.where(pos >= 0, cand[np.maximum(pos, 0)], -1)
                    total += ndcg_at(hit_matrix(items, rel), np.diff(rel.indptr), k).sum()
                    n_users += rel.shape[0]
                tried[key] = total / max(n_users, 1)
            return tried[key]

        best = self._search(ndcg)
        log.info("hybrid validation: best %s ndcg@%d=%.4f over %d users (%d weightings tried)", best, k,
                 ndcg(best), sum(b[2].shape[0] for b in batches), len(tried))
        return best, tried

    def _search(self, ndcg: Callable[[dict[str, float]], float]) -> dict[str, float]:
        """Without a sequence part, every (content, popularity) pair of the grids. With one, coordinate ascent:
        the sequence weight alone, then (content, popularity) at that weight, then the sequence weight again:
        39 weightings where the full product is 175, each a top-k over every validation user. Ties: the first."""
        def best_of(grid: list[dict[str, float]]) -> dict[str, float]:
            return max(grid, key=ndcg)  # max keeps the first of equals

        base = {"cf": 1.0, "content": 0.0, "popularity": 0.0}
        pairs = list(itertools.product(self.config.content_grid, self.config.popularity_grid))
        if self.config.sequence is None:
            return best_of([{**base, "content": c, "popularity": p} for c, p in pairs])
        weights = best_of([{**base, "sequence": s} for s in self.config.sequence_grid])
        weights = best_of([{**weights, "content": c, "popularity": p} for c, p in pairs])
        return best_of([{**weights, "sequence": s} for s in self.config.sequence_grid])

    def _validation_batches(self, data: Interactions, ctx: FitContext) -> list[tuple]:
        """The validation users' normalised component scores, seen items, relevant items and candidates, in
        batches: computed once, whatever the number of weightings tried."""
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
        batches = []
        starts = range(0, users.shape[0], 512)
        for start in progress(starts, desc="hybrid weights", show=ctx.show_progress, total=len(starts), unit="batch"):
            b = users[start : start + 512]
            histories = train.histories.rows(b)
            batches.append((self._normalised(parts, b, histories, cand), histories.ratings[:, cand], relevant[b], cand))
        return batches

    def chosen(self) -> dict:
        return {"weights": dict(self.weights_)}

    def tuned_config(self) -> HybridConfig:
        return self.config.model_copy(update={"weights": dict(self.weights_)})

    def _normalise(self, scores: np.ndarray) -> np.ndarray:
        return zscore_rows(scores) if self.config.normalise == "zscore" else minmax_rows(scores)

    def _normalised(self, parts: dict[str, Recommender], users: np.ndarray, histories: Histories, cand: np.ndarray,
                    components: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
        """The named components' scores of the candidate items, normalised per user."""
        return {c: self._normalise(parts[c].score_candidates(users, histories) if c == "cf"
                                   else parts[c].score_items(users, histories, cand))
                for c in components or self.parts}

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
            weighted = tuple(c for c in self.parts if self.weights_[c])  # a zero weight is never scored
            z = self._normalised(self.components_, users[warm], histories.rows(warm), cand, weighted)
            scores[~cold] = sum(self.weights_[c] * z[c] for c in weighted)
        return scores

    def score_users(self, users: np.ndarray, histories: Histories) -> np.ndarray:
        """Candidates' scores; every other item just below the row's lowest, ranked last."""
        return spread_to_catalogue(self.score_candidates(users, histories), self.candidates(),
                                   self._item_popularity.shape[0])


def model_for(inputs: ModelInputs) -> Hybrid:
    """`--quick`: the weights validation chose on ml-latest-small, no grid search. Large: EASE's large
    config and the validation fit on a sample of users. The sequence part has the transitions model's
    own config (build/models/transitions.py), so the build's FitCache shares that fit."""
    from latentlens.build.models.transitions import model_for as transitions_for

    protocol = {"k": inputs.k, "relevance_threshold": inputs.relevance_threshold}
    parts = {"cf": ease_config_for(inputs), "sequence": transitions_for(inputs).config}
    if inputs.quick:
        config = HybridConfig(**parts, weights={"cf": 1.0, "content": 0.3, "popularity": 0.0, "sequence": 0.3},
                              **protocol)
    elif inputs.large:
        config = HybridConfig(**parts, validation_fit_users=30_000, **protocol)
    else:
        config = HybridConfig(**parts, **protocol)
    return Hybrid(config, features=shared_features(inputs), fits=inputs.fits)


SPEC = ModelSpec("hybrid", model_for,
                 description="EASE + content + popularity + transitions, weights chosen on validation")
