"""The simulated population: the build's own temporal holdout of the embedded data, its training part a release
the build's loader reads, and what each person liked later."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from latentlens.build.data.loader import load_movielens
from latentlens.build.evaluate.splits import held_out_counts
from latentlens.build.experiments.population import LIKED, holdout_population
from latentlens.build.settings import SettingsError

EMBEDDED = Path(__file__).resolve().parents[2] / "data" / "ml-latest-small"


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("population") / "train"
    return holdout_population(EMBEDDED, out), pl.read_csv(EMBEDDED / "ratings.csv")


def test_each_user_keeps_their_first_ratings_and_holds_out_the_last_fifth(split) -> None:
    population, full = split
    train = load_movielens(population.train_dir).ratings  # the build's own loader reads it
    per_user = full.group_by("userId").len().sort("userId")
    kept = train.group_by("user_id").len().sort("user_id")
    assert kept["user_id"].to_list() == per_user["userId"].to_list()  # nobody lost
    held = per_user["len"].to_numpy() - kept["len"].to_numpy()
    np.testing.assert_array_equal(held, held_out_counts(per_user["len"].to_numpy(), 0.2))
    latest_kept = train.group_by("user_id").agg(pl.col("timestamp").max()).sort("user_id")["timestamp"]
    held_out = full.join(train.rename({"user_id": "userId", "movie_id": "movieId"}), on=["userId", "movieId"],
                         how="anti")
    first_held = held_out.group_by("userId").agg(pl.col("timestamp").min()).sort("userId")["timestamp"]
    assert (latest_kept.to_numpy() <= first_held.to_numpy()).all()  # by time: nothing kept is later


def test_what_each_person_liked_later_is_their_held_out_ratings_of_four_stars_or_more(split) -> None:
    population, full = split
    train = pl.read_csv(population.train_dir / "ratings.csv")
    held_out = full.join(train, on=["userId", "movieId"], how="anti")
    expected = {int(u): set(g["movieId"].to_list())
                for (u,), g in held_out.filter(pl.col("rating") >= LIKED).group_by(["userId"])}
    assert population.users == sorted(full["userId"].unique().to_list())
    assert {u: set(m) for u, m in population.liked_later.items() if m} == expected


def test_tags_on_movies_rated_only_later_are_left_out(split) -> None:
    population, full = split
    tags, train = pl.read_csv(EMBEDDED / "tags.csv"), pl.read_csv(population.train_dir / "ratings.csv")
    held_out = full.join(train, on=["userId", "movieId"], how="anti").select("userId", "movieId")
    kept = pl.read_csv(population.train_dir / "tags.csv")
    assert kept.join(held_out, on=["userId", "movieId"]).height == 0
    assert kept.height == tags.join(held_out, on=["userId", "movieId"], how="anti").height < tags.height
    for name in ("movies.csv", "links.csv"):
        assert (population.train_dir / name).read_bytes() == (EMBEDDED / name).read_bytes()


def test_a_release_in_another_layout_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "ml-1m"
    source.mkdir()
    (source / "ratings.dat").write_text("1::1::5::978300760\n")
    (source / "movies.dat").write_text("1::Toy Story (1995)::Animation|Children's|Comedy\n")
    with pytest.raises(SettingsError, match="CSV layout"):
        holdout_population(source, tmp_path / "train")
