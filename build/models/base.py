"""The one interface every model implements: fit on Interactions, score a batch of users given their histories.

Models only ever see dense indices (latentlens.build.interactions). Training and scoring are
separate: the caller passes the users' histories when it scores (implicit's `recommend(userid,
user_items)`), so a model that learned about items only keeps no copy of its training users.
Scoring and ranking are separate steps too: a model scores a batch of users against all items;
`ranking.top_n` ranks, excluding seen items.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import ClassVar, Generic, Self, TypeVar

import numpy as np
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict

from latentlens.build.interactions import Histories, Interactions
from latentlens.build.models.ranking import top_n
from latentlens.build.progress import get_logger, progress

log = get_logger(__name__)


class ModelError(RuntimeError):
    """A fit produced something unusable (NaN factors, empty vocabulary, ...)."""


@dataclass(frozen=True)
class FitContext:
    """Options of one training run: randomness comes from `rng`, never from a global seed."""

    rng: np.random.Generator  # the caller's stream (stages.evaluate.fit_context: the build's seed per model)
    show_progress: bool = True
    n_threads: int = 2


class ModelConfig(BaseModel):
    """Base of every model's settings; `model_dump()` is what goes to mlflow.log_params."""

    model_config = ConfigDict(extra="forbid", frozen=True)


ConfigT = TypeVar("ConfigT", bound=ModelConfig)


class Recommender(ABC, Generic[ConfigT]):
    """Every model: fit on Interactions, score a batch of users against all items.

    Subclasses implement `fit` and `score_users`; a model with more to offer has the method of
    that capability (capabilities.py: `predict`, `similar_items`), which callers test with
    isinstance. A model is generic over its config class (`class EASE(Recommender[EASEConfig])`),
    so `self.config` has that model's fields.
    """

    name: ClassVar[str]
    # Same data and config give the same fitted model whatever the rng: FitCache may share it.
    deterministic: ClassVar[bool] = False
    # What the fit learned is about items only (users are scored from the histories passed in): a fit on
    # nearly all the ratings may stand in for one on all of them (FitCache.allow_stand_in, the large plan).
    item_side: ClassVar[bool] = False

    config: ConfigT

    @abstractmethod
    def fit(self, data: Interactions, ctx: FitContext) -> Self:
        """Learn from `data`; returns self so `Model(cfg).fit(train, ctx)` reads as a sentence."""

    @abstractmethod
    def score_users(self, users: np.ndarray, histories: Histories) -> np.ndarray:
        """Dense (len(users) x n_items) float32 scores; higher is better.

        `users` are dense indices and `histories` their rated items, row i for users[i]
        (Interactions.histories.rows(users)); -1 marks a user unknown to the model, who gets the
        model's cold-start scores (see `cold_scores`). A model whose state is per user (factors,
        biases, popularity) may ignore the histories; an item-side model scores them.
        """

    def cold_scores(self) -> np.ndarray:
        """Scores for a user the model has never seen: by default item popularity in training."""
        pop = getattr(self, "_item_popularity", None)
        if pop is None:
            raise ModelError(f"{self.name}: not fitted")
        return pop

    def _remember_popularity(self, data: Interactions) -> None:
        self._item_popularity = np.bincount(data.item_idx, minlength=data.n_items).astype(np.float32)

    def fit_key(self) -> str:
        """What besides the data determines a deterministic fit (FitCache's key)."""
        return self.config.model_dump_json()

    def tuned_config(self) -> ConfigT:
        """The config with what `fit` chose on validation fixed in (the retrain skips the search)."""
        return self.config

    def chosen(self) -> dict:
        """What `fit` chose on validation, for the record (MLflow params, evaluation.json); {} if nothing."""
        return {}

    def candidates(self) -> np.ndarray | None:
        """Sorted item indices `recommend` ranks (None: every item).

        A model that scores only part of the catalogue (EASE's most-rated items) ranks only
        those: at ML-25M that is 8k columns instead of 62k, the bulk of the export's cost.
        """
        return None

    def score_candidates(self, users: np.ndarray, histories: Histories) -> np.ndarray:
        """(len(users) x len(candidates())) scores; by default the columns of `score_users`."""
        cand = self.candidates()
        return self.score_users(users, histories) if cand is None else self.score_items(users, histories, cand)

    def score_items(self, users: np.ndarray, histories: Histories, items: np.ndarray) -> np.ndarray:
        """(len(users) x len(items)) scores: the `items` columns of `score_users`."""
        return self.score_users(users, histories)[:, items]

    def recommend(
        self, users: np.ndarray, histories: Histories, n: int, exclude: sp.csr_matrix | None = None,
        batch_size: int = 1024, n_threads: int = 1, show_progress: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-n item indices and scores for each user among `candidates()`, best first, batched.

        `histories` are the users' rated items, row i for users[i] (Interactions.histories.rows):
        scored, and never recommended. `exclude` (users x items, aligned with `users` too) adds
        items never to recommend. Rows that run out of candidates are padded with index -1 and
        score -inf. Batches run on `n_threads` threads (partition, sparse products and BLAS
        release the GIL): the export ranks every user, 160 batches at ML-25M.
        """
        users = np.asarray(users, dtype=np.int64)
        if histories.n_users != users.shape[0]:
            raise ValueError(f"{histories.n_users} histories for {users.shape[0]} users")
        cand = self.candidates()
        out_items = np.full((users.shape[0], n), -1, dtype=np.int64)
        out_scores = np.full((users.shape[0], n), -np.inf, dtype=np.float32)

        def rank(start: int) -> None:
            batch = users[start : start + batch_size]
            rows = np.arange(start, start + batch.shape[0])
            batch_histories = histories.rows(rows)
            scores = self.score_candidates(batch, batch_histories)
            seen = batch_histories.ratings if exclude is None else (batch_histories.ratings + exclude[rows]).tocsr()
            if cand is not None:
                seen = seen[:, cand]
            items, top = top_n(scores, n, seen)
            if cand is not None:
                items = np.where(items >= 0, cand[np.maximum(items, 0)], -1)
            out_items[start : start + len(batch)] = items
            out_scores[start : start + len(batch)] = top

        starts = range(0, users.shape[0], batch_size)
        with ThreadPoolExecutor(max(1, n_threads)) as pool:
            done = pool.map(rank, starts)
            for _ in progress(done, desc=f"{self.name} top-{n}", show=show_progress, total=len(starts), unit="batch"):
                pass
        return out_items, out_scores
