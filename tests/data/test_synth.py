"""The synthetic generator: loadable, the promised shape, and real signal for collaborative filtering."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from latentlens.build.data.errors import DataError
from latentlens.build.data.loader import load_movielens
from latentlens.build.data.synth import SynthSettings, build_model, write_synthetic
from latentlens.cli import main


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[SynthSettings, Path]:
    settings = SynthSettings.preset("small", seed=7)
    out = tmp_path_factory.mktemp("synth") / "ml-synth"
    write_synthetic(out, settings)
    return settings, out


def test_headers_are_exactly_ml25m(small) -> None:
    _, out = small
    first = {name: (out / name).read_text(encoding="utf-8").split("\n", 1)[0]
             for name in ("ratings.csv", "movies.csv", "tags.csv", "links.csv")}
    assert first == {"ratings.csv": "userId,movieId,rating,timestamp", "movies.csv": "movieId,title,genres",
                     "tags.csv": "userId,movieId,tag,timestamp", "links.csv": "movieId,imdbId,tmdbId"}
    readme = (out / "README.txt").read_text(encoding="utf-8")
    assert "SYNTHETIC" in readme and "seed: 7" in readme and "preset: small" in readme
    assert not list(out.parent.glob(".*partial*"))


def test_loads_with_the_preset_counts(small) -> None:
    settings, out = small
    data = load_movielens(out)
    per_user = data.ratings.group_by("user_id").len()["len"]
    assert data.ratings.height == settings.n_ratings
    assert per_user.len() == settings.n_users and per_user.min() >= 20
    assert data.movies.height == settings.n_movies
    rated = data.ratings["movie_id"].n_unique()
    assert rated < settings.n_movies  # some movies are never rated
    assert data.notes == ()           # every rated movie is in movies.csv
    assert 0.5 * settings.n_tags < data.tags.height < 1.5 * settings.n_tags
    ids = data.movies["movie_id"].sort()
    assert ids.max() > ids.len()      # non-contiguous ids, like the real ones
    assert per_user.max() > 5 * per_user.median()  # long-tailed activity


def test_sorted_by_user_then_time_and_titles_like_grouplens(small) -> None:
    _, out = small
    data = load_movielens(out)
    r = data.ratings
    assert r.select(((pl.col("user_id").diff() > 0) | ((pl.col("user_id").diff() == 0)
                     & (pl.col("timestamp").diff() >= 0))).slice(1).all()).item()
    assert r["rating"].is_in([x / 2 for x in range(1, 11)]).all()
    titles = data.movies["title"]
    assert titles.str.contains(", The (", literal=True).any()
    assert titles.str.contains('"', literal=True).any()
    assert titles.str.contains(r"[^\x00-\x7f]").any()
    assert data.movies["year"].null_count() < data.movies.height * 0.05
    assert (data.movies["display_title"].str.starts_with("The ")).any()


def test_ratings_carry_the_generators_signal(small) -> None:
    settings, out = small
    data = load_movielens(out)
    model = build_model(settings)
    items = data.ratings.group_by("movie_id").agg(pl.col("rating").mean().alias("mean"), pl.len().alias("n"))
    items = items.filter(pl.col("n") >= 10)
    bias = model.item_bias[np.searchsorted(model.movie_ids, items["movie_id"].to_numpy())]
    assert np.corrcoef(items["mean"].to_numpy(), bias)[0, 1] > 0.5
    halves = (data.ratings.with_columns((pl.int_range(pl.len()).over("user_id") % 2).alias("half"))
              .group_by("user_id", "half").agg(pl.col("rating").mean())
              .pivot(on="half", index="user_id", values="rating"))
    assert np.corrcoef(halves["0"].to_numpy(), halves["1"].to_numpy())[0, 1] > 0.5


def test_same_seed_same_files_other_seed_differs(small, tmp_path: Path) -> None:
    settings, out = small
    again = tmp_path / "again"
    write_synthetic(again, settings)
    assert (again / "ratings.csv").read_bytes() == (out / "ratings.csv").read_bytes()
    other = tmp_path / "other"
    write_synthetic(other, settings.with_seed(8))
    assert (other / "ratings.csv").read_bytes() != (out / "ratings.csv").read_bytes()


def test_refuses_to_overwrite_unless_forced(tmp_path: Path, capsys) -> None:
    out = tmp_path / "taken"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(DataError, match="already exists"):
        write_synthetic(out, SynthSettings.preset("small"))
    assert main(["data", "synth", str(out), "--preset", "small"]) == 2
    assert (out / "keep.txt").read_text() == "mine"
    assert main(["data", "synth", str(out), "--preset", "small", "--seed", "3", "--force"]) == 0
    assert not (out / "keep.txt").exists() and (out / "ratings.csv").is_file()
    assert "seed: 3" in (out / "README.txt").read_text(encoding="utf-8")


def test_presets() -> None:
    big = SynthSettings.preset("ml-25m")
    assert (big.n_users, big.n_movies, big.n_ratings) == (162_541, 62_423, 25_000_095)
    sizes = [SynthSettings.preset(p).n_ratings for p in ("1m", "5m", "10m", "ml-25m")]
    assert sizes == sorted(sizes) and abs(sizes[0] - 1_000_000) < 1_000
    with pytest.raises(ValueError, match="unknown preset"):
        SynthSettings.preset("huge")


def expected_ratings_per_movie(settings: SynthSettings) -> np.ndarray:
    """Each movie's expected rating count from the generator's choice probabilities (no files):
    sum over users of count x choice probability. Linear in the draws, so the saturated head is
    overstated and the tail a little understated."""
    model = build_model(settings)
    choice = np.diff(model.choice_cdf, axis=1, prepend=0.0)
    return (model.ratings_per_user[:, None] * model.user_mix).sum(axis=0) @ choice


def test_ml25m_preset_has_a_long_per_movie_tail() -> None:
    """Real ML-25M: median 6 ratings per rated movie, about half of the 62,423 movies under 10.
    Without the preset's tail settings the clusters' flattened tail leaves a median near 70."""
    from dataclasses import replace

    preset = SynthSettings.preset("ml-25m")
    counts = expected_ratings_per_movie(preset)
    assert 2 <= np.median(counts) <= 12
    assert 0.4 <= (counts < 10).mean() <= 0.8
    assert counts.sum() == pytest.approx(preset.n_ratings, rel=1e-6)
    flat = expected_ratings_per_movie(replace(preset, cluster_tail=None, tail_exponent=2.5))
    assert np.median(flat) > 30 and (flat < 10).mean() < 0.2


def test_ratings_come_in_sessions_after_release(small) -> None:
    """ml-latest-small's rhythm: ~16% of a user's consecutive ratings share their second, most are under a
    minute apart, half the users rate in one sitting, and no movie is rated before its release year."""
    _, out = small
    data = load_movielens(out)
    r = data.ratings.sort("user_id", "timestamp", maintain_order=True)
    gaps = r.select(pl.col("timestamp").diff().over("user_id").drop_nulls())["timestamp"].to_numpy()
    assert 0.08 < (gaps == 0).mean() < 0.3
    assert (gaps < 60).mean() > 0.6
    span = r.group_by("user_id").agg((pl.col("timestamp").max() - pl.col("timestamp").min()).alias("span"))["span"]
    assert span.median() < 86_400
    year = r.join(data.movies.select("movie_id", "year"), on="movie_id").drop_nulls("year")
    rated_in = pl.from_epoch(year["timestamp"], time_unit="s").dt.year()
    assert (rated_in >= year["year"]).all()
