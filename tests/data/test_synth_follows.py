"""The follows walk (build/data/synth_follows.py): it reorders what each user chose, never re-chooses, and leaves
successions that many users share, which a shuffle of the same histories does not."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import polars as pl
import pytest

from latentlens.build.data.synth import SynthSettings, write_synthetic

SHARED_BY = 3


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pl.DataFrame]:
    base = replace(SynthSettings.preset("small", seed=11), n_users=300, n_ratings=40_000, n_tags=500)
    out = {}
    for name, share in (("off", 0.0), ("on", 1.0)):
        path = tmp_path_factory.mktemp("follows") / name
        write_synthetic(path, replace(base, follow_share=share))
        out[name] = pl.read_csv(path / "ratings.csv").with_row_index("line")
    return out


def shared_share(ratings: pl.DataFrame, shuffle: bool = False) -> float:
    """Share of consecutive (movie, next movie) pairs in users' histories that SHARED_BY or more users have."""
    if shuffle:
        ratings = ratings.with_columns(line=pl.Series(np.random.default_rng(0).permutation(ratings.height)))
    ordered = ratings.sort(["userId", "timestamp", "line"] if not shuffle else ["userId", "line"])
    pairs = ordered.with_columns(nxt=pl.col("movieId").shift(-1).over("userId")).drop_nulls("nxt")
    users = pairs.group_by(["movieId", "nxt"]).agg(pl.col("userId").n_unique().alias("n"))
    return float(np.mean(pairs.join(users, on=["movieId", "nxt"])["n"].to_numpy() >= SHARED_BY))


def test_reorders_without_rechoosing(both) -> None:
    def chosen(df: pl.DataFrame) -> pl.DataFrame:
        return df.select("userId", "movieId", "rating").sort(["userId", "movieId"])

    assert chosen(both["on"]).equals(chosen(both["off"]))
    assert not both["on"]["movieId"].equals(both["off"]["movieId"])  # the order did move


def test_successions_are_shared_across_users(both) -> None:
    off, on, shuffled = shared_share(both["off"]), shared_share(both["on"]), shared_share(both["on"], shuffle=True)
    assert on > 5 * max(off, shuffled), (on, off, shuffled)
