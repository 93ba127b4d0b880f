"""What a fitted model can do, as small protocols: callers ask `isinstance(model, RatingPredictor)`,
never a flag, so a model offers a capability by having the method and nothing else.

Every model is a top-N scorer (base.Recommender); rating prediction and item similarity are
extras only some models have (implicit's `recommend`/`similar_items`, Surprise's `predict`).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import scipy.sparse as sp

from latentlens.build.interactions import Histories


@runtime_checkable
class TopNScorer(Protocol):
    """Scores a batch of users, given their histories, against every item; ranks the best unseen ones."""

    def score_users(self, users: np.ndarray, histories: Histories) -> np.ndarray: ...

    def recommend(
        self, users: np.ndarray, histories: Histories, n: int, exclude: sp.csr_matrix | None = None,
        batch_size: int = 1024, n_threads: int = 1, show_progress: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]: ...


@runtime_checkable
class RatingPredictor(Protocol):
    """Predicts the rating of (user, item) index pairs, clipped to the rating scale: the rating protocol
    evaluates it by RMSE and MAE, and it can be the rating champion."""

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray: ...


@runtime_checkable
class ItemSimilarity(Protocol):
    """The top-n most similar items to each of `items` (never the item itself), best first."""

    def similar_items(self, items: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]: ...


@runtime_checkable
class ItemNeighbours(Protocol):
    """A fitted item-item model (item-kNN, content): row i of `neighbours_` holds item i's most
    similar items with their similarities. The export's similar-movie roles are such models."""

    neighbours_: sp.csr_matrix


@runtime_checkable
class NextItems(Protocol):
    """The top-n items rated next after each of `items` in time-ordered histories (never the item itself),
    best first, -1 padded: the NEXT_MOVIES role (transitions)."""

    def next_items(self, items: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]: ...
