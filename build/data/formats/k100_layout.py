"""ML-100K: u.data (tab-separated ratings), u.item (pipe-separated, Latin-1), u.genre, u.user.

u.item marks genres with 19 0/1 flags whose names u.genre lists in order; the flag named
"unknown" means no genre, like "(no genres listed)" elsewhere. A title without a year
takes the year of the release date column ("01-Jan-1995").
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from latentlens.build.data.errors import DataError
from latentlens.build.data.formats.reading import (
    TableSpec,
    exists_at_all,
    read_table,
    require_regular_file,
    require_text,
)
from latentlens.build.data.formats.release import RawRelease
from latentlens.build.data.formats.titles import finish_movies
from latentlens.build.data.tables import (
    ID_RANGE,
    LINKS_SCHEMA,
    MAX_TITLE_CHARS,
    RATINGS_SCHEMA,
    TAGS_SCHEMA,
    TIMESTAMP_RANGE,
    USERS_SCHEMA,
)

REQUIRED = ("u.data", "u.item", "u.genre")
OPTIONAL = ("u.user",)
N_GENRE_FLAGS = 19

RATINGS = TableSpec(RATINGS_SCHEMA, tuple(RATINGS_SCHEMA), separator="\t", quote_char=None,
                    ranges={"user_id": ID_RANGE, "movie_id": ID_RANGE, "timestamp": TIMESTAMP_RANGE})
GENRES = TableSpec({"genre": pl.Utf8, "index": pl.Int32}, ("genre", "index"), separator="|", quote_char=None)
ITEMS = TableSpec(
    {"movie_id": pl.Int32, "title": pl.Utf8, "release_date": pl.Utf8, "video_release_date": pl.Utf8,
     "imdb_url": pl.Utf8, **{f"g{i}": pl.Int8 for i in range(N_GENRE_FLAGS)}},
    ("movie_id", *(f"g{i}" for i in range(N_GENRE_FLAGS))),
    separator="|", quote_char=None, ranges={"movie_id": ID_RANGE}, max_chars={"title": MAX_TITLE_CHARS},
)

USERS = TableSpec({"user_id": pl.Int32, "age": pl.Int32, "gender": pl.Utf8, "occupation": pl.Utf8,
                   "zip_code": pl.Utf8}, ("user_id",), separator="|", quote_char=None, ranges={"user_id": ID_RANGE})


def _latin1(path: Path) -> bytes:
    require_regular_file(path)
    data = path.read_bytes()
    if not data:
        raise DataError(path, "empty file (0 bytes)")
    require_text(path, data[:512])
    return data.decode("latin-1").encode("utf-8")


def _genre_names(path: Path) -> list[str]:
    """Flag index -> genre name, from u.genre (blank trailing lines ignored)."""
    data = b"\n".join(line for line in _latin1(path).split(b"\n") if line.strip())
    table = read_table(path, GENRES, data + b"\n").sort("index")
    if table["index"].to_list() != list(range(N_GENRE_FLAGS)):
        raise DataError(path, f"expected genre indices 0..{N_GENRE_FLAGS - 1}, found {table['index'].to_list()}")
    return table["genre"].to_list()


def read_movies(items_path: Path, genre_path: Path) -> pl.DataFrame:
    """u.item with its genre flags named by u.genre (also the Spark engine's catalogue reader)."""
    names = _genre_names(genre_path)
    items = read_table(items_path, ITEMS, _latin1(items_path))
    flags = [pl.when(pl.col(f"g{i}") == 1).then(pl.lit(name)) for i, name in enumerate(names) if name != "unknown"]
    movies = finish_movies(items.select("movie_id", "title", pl.concat_list(flags).list.drop_nulls().alias("genres")))
    release_year = items["release_date"].str.slice(-4).cast(pl.Int32, strict=False)
    return movies.with_columns(pl.coalesce(pl.col("year"), release_year).alias("year"))


def read_100k_release(directory: Path) -> RawRelease:
    ratings_path, items_path, genre_path = (directory / n for n in REQUIRED)
    require_regular_file(ratings_path)
    if ratings_path.stat().st_size == 0:
        raise DataError(ratings_path, "empty file (0 bytes)")
    require_text(ratings_path)
    ratings = read_table(ratings_path, RATINGS)
    movies = read_movies(items_path, genre_path)
    users_path = directory / "u.user"
    has_users = exists_at_all(users_path)
    users = read_table(users_path, USERS, _latin1(users_path)).select(list(USERS_SCHEMA)) if has_users else None
    return RawRelease(
        layout="100k", ratings=ratings, ratings_path=ratings_path, ratings_first_line=1,
        movies=movies, movies_path=items_path, tags=pl.DataFrame(schema=TAGS_SCHEMA),
        links=pl.DataFrame(schema=LINKS_SCHEMA), rating_scale=(1.0, 5.0), rating_step=1.0,
        files_read=(ratings_path, genre_path, items_path) + ((users_path,) if has_users else ()), users=users,
    )
