"""ML-20M, ML-25M, ml-latest and ml-latest-small: comma-separated files with a header, UTF-8.

Titles and tags are quoted when they hold commas ("Big ""Hit"", A (2000)"); polars parses
that quoting. imdbId keeps its text so the zero padding survives ("0114709").
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from latentlens.build.data.formats.reading import TableSpec, exists_at_all, read_file
from latentlens.build.data.formats.release import RawRelease
from latentlens.build.data.formats.titles import finish_movies, genres_expr
from latentlens.build.data.tables import (
    GENOME_SCORES_SCHEMA,
    GENOME_TAGS_SCHEMA,
    ID_RANGE,
    LINKS_SCHEMA,
    MAX_GENRES_CHARS,
    MAX_TAG_CHARS,
    MAX_TITLE_CHARS,
    RATINGS_SCHEMA,
    TAGS_SCHEMA,
    TIMESTAMP_RANGE,
)

REQUIRED = ("ratings.csv", "movies.csv")
OPTIONAL = ("tags.csv", "links.csv", "genome-scores.csv", "genome-tags.csv")

RATINGS = TableSpec(RATINGS_SCHEMA, tuple(RATINGS_SCHEMA), header=("userId", "movieId", "rating", "timestamp"),
                    ranges={"user_id": ID_RANGE, "movie_id": ID_RANGE, "timestamp": TIMESTAMP_RANGE})
MOVIES = TableSpec({"movie_id": pl.Int32, "title": pl.Utf8, "genres": pl.Utf8}, ("movie_id", "title"),
                   header=("movieId", "title", "genres"), ranges={"movie_id": ID_RANGE},
                   max_chars={"title": MAX_TITLE_CHARS, "genres": MAX_GENRES_CHARS})
TAGS = TableSpec(TAGS_SCHEMA, ("user_id", "movie_id", "timestamp"), header=("userId", "movieId", "tag", "timestamp"),
                 ranges={"user_id": ID_RANGE, "movie_id": ID_RANGE, "timestamp": TIMESTAMP_RANGE},
                 max_chars={"tag": MAX_TAG_CHARS})
LINKS = TableSpec({"movie_id": pl.Int32, "imdb_id": pl.Utf8, "tmdb_id": pl.Int32}, ("movie_id", "imdb_id"),
                  header=("movieId", "imdbId", "tmdbId"), ranges={"movie_id": ID_RANGE})
GENOME_SCORES = TableSpec(GENOME_SCORES_SCHEMA, tuple(GENOME_SCORES_SCHEMA), header=("movieId", "tagId", "relevance"),
                          ranges={"movie_id": ID_RANGE})
GENOME_TAGS = TableSpec(GENOME_TAGS_SCHEMA, ("tag_id",), header=("tagId", "tag"), max_chars={"tag": MAX_TAG_CHARS})


def read_csv_release(directory: Path) -> RawRelease:
    """Parse every file of the layout that is present; ratings.csv and movies.csv must be."""

    def read(name: str, spec: TableSpec) -> pl.DataFrame:
        return read_file(directory / name, spec)

    present = [name for name in (*REQUIRED, *OPTIONAL) if exists_at_all(directory / name)]
    ratings = read("ratings.csv", RATINGS)
    movies = finish_movies(read("movies.csv", MOVIES).with_columns(genres_expr(pl.col("genres"))))
    tags = read("tags.csv", TAGS) if "tags.csv" in present else pl.DataFrame(schema=TAGS_SCHEMA)
    links = (
        read("links.csv", LINKS).with_columns(pl.col("imdb_id").str.strip_chars().str.zfill(7))
        if "links.csv" in present else pl.DataFrame(schema=LINKS_SCHEMA)
    )
    genome_scores = read("genome-scores.csv", GENOME_SCORES) if "genome-scores.csv" in present else None
    genome_tags = read("genome-tags.csv", GENOME_TAGS) if "genome-tags.csv" in present else None
    return RawRelease(
        layout="csv", ratings=ratings, ratings_path=directory / "ratings.csv", ratings_first_line=2,
        movies=movies, movies_path=directory / "movies.csv", tags=tags, links=links,
        rating_scale=(0.5, 5.0), rating_step=0.5,
        files_read=tuple(directory / name for name in sorted(present)),
        genome_scores=genome_scores, genome_tags=genome_tags,
    )
