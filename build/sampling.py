"""Samples of Interactions that keep the vocabularies: whole users, or a uniform share of ratings."""

from __future__ import annotations

import numpy as np

from latentlens.build.interactions import Interactions


def sample_users(data: Interactions, max_users: int | None, rng: np.random.Generator) -> Interactions:
    """All ratings of at most `max_users` users drawn uniformly from those in `data` (all if None).

    Whole users, not a share of each user's ratings: evaluation, the hybrid's validation fit
    and biased_mf's reg search all need each sampled user as dense as in the full data.
    """
    users = np.unique(data.user_idx)
    if max_users is None or users.size <= max_users:
        return data
    keep = np.zeros(data.n_users, dtype=bool)
    keep[rng.choice(users, max_users, replace=False)] = True
    return data.subset(keep[data.user_idx])


def sample_ratings(data: Interactions, max_ratings: int | None, rng: np.random.Generator) -> Interactions:
    """A uniform sample of at most `max_ratings` ratings, vocabularies unchanged (all if None)."""
    if max_ratings is None or data.n_ratings <= max_ratings:
        return data
    mask = np.zeros(data.n_ratings, dtype=bool)
    mask[rng.choice(data.n_ratings, max_ratings, replace=False)] = True
    return data.subset(mask)
