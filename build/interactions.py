"""From the loader's tables to the dense-index Interactions every model trains on."""

from __future__ import annotations

import numpy as np

from latentlens.build.data.tables import MovieLensData
from latentlens.build.models.base import Interactions, Vocabulary


def to_interactions(data: MovieLensData) -> Interactions:
    """Users are those who rated; items are the whole catalogue (rated or not) so content
    models can score and export every movie."""
    r = data.ratings
    users = Vocabulary.from_ids(r["user_id"].to_numpy())
    items = Vocabulary.from_ids(np.concatenate([data.movies["movie_id"].to_numpy(), r["movie_id"].to_numpy()]))
    return Interactions(
        users=users,
        items=items,
        user_idx=users.index(r["user_id"].to_numpy()).astype(np.int32),
        item_idx=items.index(r["movie_id"].to_numpy()).astype(np.int32),
        rating=r["rating"].to_numpy().astype(np.float32),
        timestamp=r["timestamp"].to_numpy().astype(np.int64),
        rating_scale=tuple(float(x) for x in data.rating_scale),
    )
