"""The least data a build can use, checked after loading and before any training.

A build needs 2 users (one user is not a recommender: nobody to learn from), 2 rated movies
(a similar-movies list needs another movie) and at least as many ratings as folds of the
rating cross-validation (each fold holds out one rating or more). Below that the build stops
with exit 2 and says what is missing. Above it, a protocol that still cannot run on the data
is skipped for every model with a logged reason: the top-N holdout needs a user with 2 ratings
(one to learn from, one to predict).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from latentlens.build.data.errors import DataError
from latentlens.build.interactions import Interactions

MIN_USERS = 2
MIN_RATED_MOVIES = 2


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def check_minimum(full: Interactions, folds: int, ratings_path: Path | str) -> None:
    """DataError (exit 2) naming the minimum when the data is below it."""
    users = int(np.unique(full.user_idx).size)
    movies = int(np.unique(full.item_idx).size)
    ratings = full.n_ratings
    if users >= MIN_USERS and movies >= MIN_RATED_MOVIES and ratings >= folds:
        return
    raise DataError(ratings_path, (
        f"too little data to build: {_plural(users, 'user')}, {_plural(movies, 'rated movie')}, "
        f"{_plural(ratings, 'rating')}; a build needs at least {MIN_USERS} users, {MIN_RATED_MOVIES} rated "
        f"movies and {folds} ratings (one per fold of the {folds}-fold rating cross-validation; "
        "--folds 2 lowers that to 2)"))


def topn_skip_reason(test: Interactions) -> str | None:
    """Why the top-N protocol cannot run on this holdout, or None when it can."""
    if test.n_ratings == 0:
        return "no user has 2 ratings, so the temporal holdout has nothing to predict"
    return None
