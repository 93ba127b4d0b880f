"""The typed tables every later stage receives from the loader."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:
    from polars._typing import SchemaDict  # column name -> dtype class or instance

# Limits the loader enforces (docs/data.md): ids as the API accepts them, timestamps that
# are dates, and text small enough that no answer grows past Lambda's 6 MB response limit.
MAX_ID = 2**31 - 1
MAX_TIMESTAMP = 253_402_300_799  # 9999-12-31 23:59:59 UTC, the last second a date can show
MAX_TITLE_CHARS = 1_000
MAX_TAG_CHARS = 1_000
MAX_GENRES_CHARS = 1_000
ID_RANGE = (1, MAX_ID, f"ids are 1..{MAX_ID}")
TIMESTAMP_RANGE = (0, MAX_TIMESTAMP, f"seconds since 1970-01-01 UTC, 0..{MAX_TIMESTAMP} (9999-12-31)")

RATINGS_SCHEMA: SchemaDict = {"user_id": pl.Int32, "movie_id": pl.Int32, "rating": pl.Float32, "timestamp": pl.Int64}
MOVIES_SCHEMA: SchemaDict = {
    "movie_id": pl.Int32,
    "title": pl.Utf8,          # GroupLens's text, e.g. "Godfather, The (1972)"
    "display_title": pl.Utf8,  # "The Godfather"
    "year": pl.Int32,          # null when the title carries no year
    "genres": pl.List(pl.Utf8),
}
TAGS_SCHEMA: SchemaDict = {"user_id": pl.Int32, "movie_id": pl.Int32, "tag": pl.Utf8, "timestamp": pl.Int64}
LINKS_SCHEMA: SchemaDict = {"movie_id": pl.Int32, "imdb_id": pl.Utf8, "tmdb_id": pl.Int32}
GENOME_SCORES_SCHEMA: SchemaDict = {"movie_id": pl.Int32, "tag_id": pl.Int32, "relevance": pl.Float32}
GENOME_TAGS_SCHEMA: SchemaDict = {"tag_id": pl.Int32, "tag": pl.Utf8}
# ML-1M users.dat / ML-100K u.user only. `age` is ML-1M's age-group code (1, 18, 25, ...) but
# years in ML-100K; `occupation` is ML-1M's numeric code as text, or ML-100K's name.
USERS_SCHEMA: SchemaDict = {
    "user_id": pl.Int32, "gender": pl.Utf8, "age": pl.Int32, "occupation": pl.Utf8, "zip_code": pl.Utf8,
}


@dataclass(frozen=True)
class MovieLensData:
    """One MovieLens release, loaded. Empty frames (not None) where a release lacks tags or links."""

    name: str
    layout: str                      # "csv" (ML-20M/25M/latest), "dat" (ML-1M/10M), "100k"
    path: Path
    ratings: pl.DataFrame
    movies: pl.DataFrame
    tags: pl.DataFrame
    links: pl.DataFrame
    rating_scale: tuple[float, float]
    sha256: str                      # digest over the files read, in a fixed order
    genome_scores: pl.DataFrame | None = None
    genome_tags: pl.DataFrame | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)  # rules applied (e.g. dropped unknown movies)
    users: pl.DataFrame | None = None  # demographics, only in ML-1M and ML-100K (USERS_SCHEMA)
    rating_step: float = 0.5         # ratings are rating_scale[0] + k * rating_step (ML-1M and ML-100K: 1)
