"""ML-1M and ML-10M: `::`-separated files without a header.

polars cannot split on a two-character separator, so each file is read into memory once,
`::` is replaced by the unit separator (0x1F, never in MovieLens text) and the copy is
parsed typed; the copy keeps every newline, so line numbers in errors stay right.
ML-1M (recognised by users.dat) has Latin-1 titles and whole-star ratings; ML-10M is
UTF-8 with half stars. A movies.dat that is not UTF-8 is decoded as Latin-1 only in the
1M layout; anywhere else invalid UTF-8 is an error.
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
from latentlens.build.data.formats.titles import finish_movies, genres_expr
from latentlens.build.data.tables import (
    ID_RANGE,
    LINKS_SCHEMA,
    MAX_GENRES_CHARS,
    MAX_TAG_CHARS,
    MAX_TITLE_CHARS,
    RATINGS_SCHEMA,
    TAGS_SCHEMA,
    TIMESTAMP_RANGE,
    USERS_SCHEMA,
)

SEPARATOR = "\x1f"
REQUIRED = ("ratings.dat", "movies.dat")
OPTIONAL = ("tags.dat", "users.dat")  # ML-10M's tags; ML-1M's users (its marker)

RATINGS = TableSpec(RATINGS_SCHEMA, tuple(RATINGS_SCHEMA), separator=SEPARATOR, quote_char=None,
                    ranges={"user_id": ID_RANGE, "movie_id": ID_RANGE, "timestamp": TIMESTAMP_RANGE})
MOVIES = TableSpec({"movie_id": pl.Int32, "title": pl.Utf8, "genres": pl.Utf8}, ("movie_id", "title"),
                   separator=SEPARATOR, quote_char=None, ranges={"movie_id": ID_RANGE},
                   max_chars={"title": MAX_TITLE_CHARS, "genres": MAX_GENRES_CHARS})
TAGS = TableSpec(TAGS_SCHEMA, ("user_id", "movie_id", "timestamp"), separator=SEPARATOR, quote_char=None,
                 ranges={"user_id": ID_RANGE, "movie_id": ID_RANGE, "timestamp": TIMESTAMP_RANGE},
                 max_chars={"tag": MAX_TAG_CHARS})
USERS = TableSpec(USERS_SCHEMA, ("user_id",), separator=SEPARATOR, quote_char=None, ranges={"user_id": ID_RANGE})


def is_one_million(directory: Path) -> bool:
    return exists_at_all(directory / "users.dat")


def transcode(path: Path, text: bool, latin1_fallback: bool = False) -> bytes:
    """The file's bytes as UTF-8 with `::` replaced by the single-byte separator."""
    require_regular_file(path)
    data = path.read_bytes()
    if not data:
        raise DataError(path, "empty file (0 bytes)")
    require_text(path, data[:512])
    if text:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            if not latin1_fallback:
                raise DataError(path, "invalid UTF-8 (expected UTF-8 text)",
                                line=data.count(b"\n", 0, exc.start) + 1) from exc
            data = data.decode("latin-1").encode("utf-8")
    return data.replace(b"::", SEPARATOR.encode())


def read_dat_release(directory: Path) -> RawRelease:
    one_million = is_one_million(directory)
    ratings_path, movies_path, tags_path = (directory / n for n in ("ratings.dat", "movies.dat", "tags.dat"))
    ratings = read_table(ratings_path, RATINGS, transcode(ratings_path, text=False))
    raw_movies = read_table(movies_path, MOVIES, transcode(movies_path, text=True, latin1_fallback=one_million))
    movies = finish_movies(raw_movies.with_columns(genres_expr(pl.col("genres"))))
    has_tags = exists_at_all(tags_path)
    tags = (read_table(tags_path, TAGS, transcode(tags_path, text=True)) if has_tags
            else pl.DataFrame(schema=TAGS_SCHEMA))
    users_path = directory / "users.dat"
    users = (read_table(users_path, USERS, transcode(users_path, text=True, latin1_fallback=True)) if one_million
             else None)
    read = [ratings_path, movies_path] + ([tags_path] if has_tags else []) + ([users_path] if one_million else [])
    return RawRelease(
        layout="dat", ratings=ratings, ratings_path=ratings_path, ratings_first_line=1,
        movies=movies, movies_path=movies_path, tags=tags, links=pl.DataFrame(schema=LINKS_SCHEMA),
        rating_scale=(1.0, 5.0) if one_million else (0.5, 5.0),
        rating_step=1.0 if one_million else 0.5,
        files_read=tuple(sorted(read, key=lambda p: p.name)), users=users,
    )
