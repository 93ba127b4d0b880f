"""A temporal holdout as a population: each user's first ratings to build on, and what they went on to like.

The split is the build's own (build/evaluate/splits.py, temporal_holdout): each user's last `test_fraction` of
ratings by time is held out. The rest is written as a MovieLens directory the build reads like any other; the
held-out ratings of at least `liked` stars are what that person clicks when a list shows them.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from latentlens.build.data.loader import load_movielens
from latentlens.build.evaluate.splits import temporal_holdout
from latentlens.build.interactions import Interactions, to_interactions
from latentlens.build.settings import SettingsError

LIKED = 4.0  # a held-out rating of at least this many stars is a movie the person would click
COPIED = ("movies.csv", "links.csv")


@dataclass(frozen=True)
class Population:
    """The training release to build on, and per user the held-out movies they liked."""

    train_dir: Path
    liked_later: dict[int, frozenset[int]]  # every user of the data; an empty set for one who liked nothing later

    @property
    def users(self) -> list[int]:
        return sorted(self.liked_later)


def _frame(part: Interactions) -> pl.DataFrame:
    return pl.DataFrame({
        "userId": part.users.to_ids(part.user_idx).astype(np.int64),
        "movieId": part.items.to_ids(part.item_idx).astype(np.int64),
        "rating": part.rating.astype(np.float64),
        "timestamp": part.timestamp,
    })


def holdout_population(data_dir: Path, out_dir: Path, test_fraction: float = 0.2,
                       liked: float = LIKED) -> Population:
    """Split `data_dir` (a MovieLens release in the CSV layout) and write its training part to `out_dir` (a new
    directory): ratings.csv the first ratings of each user, movies.csv and links.csv as they were, and tags.csv
    without the tags a user put on a movie they rated only in the held-out part."""
    data = load_movielens(data_dir)
    if data.layout != "csv":
        raise SettingsError(f"{data_dir}: simulate replays a release in the CSV layout (ml-latest-small, ML-20M, "
                            f"ML-25M), not {data.layout!r}")
    train, test = temporal_holdout(to_interactions(data), test_fraction)
    out_dir.mkdir(parents=True)
    _frame(train).write_csv(out_dir / "ratings.csv")
    for name in COPIED:
        shutil.copyfile(Path(data_dir) / name, out_dir / name)
    held = _frame(test)
    tags = Path(data_dir) / "tags.csv"
    if tags.is_file():
        (pl.read_csv(tags).join(held.select("userId", "movieId"), on=["userId", "movieId"], how="anti")
         .write_csv(out_dir / "tags.csv"))
    liked_later: dict[int, frozenset[int]] = {int(user): frozenset() for user in data.ratings["user_id"].unique()}
    for (user,), movies in held.filter(pl.col("rating") >= liked).group_by(["userId"]):
        liked_later[int(user)] = frozenset(int(m) for m in movies["movieId"])
    return Population(out_dir, liked_later)
