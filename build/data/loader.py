"""Load a MovieLens directory into typed polars tables, or fail with a DataError that says where.

Layouts, recognised by the files present:
- "csv": ratings.csv + movies.csv (ML-20M, ML-25M, ml-latest, ml-latest-small); tags.csv,
  links.csv, genome-scores.csv and genome-tags.csv are read when present.
- "dat": ratings.dat + movies.dat, `::`-separated (ML-10M with tags.dat; ML-1M when
  users.dat is present, which is loaded into `users`).
- "100k": u.data + u.item + u.genre (ML-100K); u.user, when present, into `users`.

Checks, each a DataError naming the file (and the 1-based line, header included, where one
applies): missing directory or required file, unknown layout, wrong header, a value that is
not a number, a missing value or truncated last line, invalid UTF-8, a NUL in a text value,
an empty ratings file, a rating off the release's scale or step, and duplicate (user, movie) ratings —
unless `LoadOptions.keep_last_duplicate`, which keeps the last by file order and says so
in `notes`. Loading only reads, so a failure leaves nothing behind.

Unknown movies rule: ratings (or tags) of a movie id absent from the movies file are KEPT,
and a placeholder movie row is added for each such id (title "Unknown movie <id>", no
year, no genres). The count is logged as a warning and recorded in `notes`, so rating
counts always match the file and every rated item has a catalogue row.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from latentlens.build.data.errors import DataError
from latentlens.build.data.formats import csv_layout, dat_layout, k100_layout
from latentlens.build.data.formats.reading import (
    exists_at_all,
    file_kind,
    physical_line,
    require_regular_file,
    sha256_files,
)
from latentlens.build.data.formats.release import RawRelease
from latentlens.build.data.formats.titles import placeholder_movies
from latentlens.build.data.tables import MOVIES_SCHEMA, MovieLensData
from latentlens.build.progress import get_logger

log = get_logger(__name__)

LAYOUT_MARKERS = {
    "csv": ("ratings.csv", "movies.csv"),
    "dat": ("ratings.dat", "movies.dat"),
    "100k": ("u.data", "u.item"),
}
# Every file a layout may read, present or not: what a build must never write over (build/stages/prepare.py).
INPUT_FILES = (*csv_layout.REQUIRED, *csv_layout.OPTIONAL, *dat_layout.REQUIRED, *dat_layout.OPTIONAL,
               *k100_layout.REQUIRED, *k100_layout.OPTIONAL)


@dataclass(frozen=True)
class LoadOptions:
    """How strict the loader is about data that is usable but not clean."""

    keep_last_duplicate: bool = False  # duplicates (user, movie): keep the last by file order instead of failing


def detect_layout(directory: Path) -> str:
    """Name the layout by its marker files; DataError listing what was found otherwise."""
    kind = file_kind(directory)
    if kind is None:
        raise DataError(directory, "no such directory")
    if kind != "a directory":
        raise DataError(directory, f"not a directory (it is {kind or 'a regular file'})")
    for layout, markers in LAYOUT_MARKERS.items():
        if any(exists_at_all(directory / name) for name in markers):
            for name in markers:
                if not exists_at_all(directory / name):
                    raise DataError(directory / name, f"required file {name} is missing ({layout} layout)")
                require_regular_file(directory / name)
            return layout
    found = sorted(p.name for p in directory.iterdir())
    shown = ", ".join(found[:12]) + (", ..." if len(found) > 12 else "") if found else "an empty directory"
    raise DataError(directory, "unknown MovieLens layout: expected ratings.csv, ratings.dat or u.data; "
                               f"found {shown}")


def load_movielens(path: Path | str, options: LoadOptions = LoadOptions()) -> MovieLensData:
    """Read, type and check one MovieLens release; see the module docstring for the rules."""
    directory = Path(path)
    layout = detect_layout(directory)
    log.info("loading %s (%s layout)", directory, layout)
    readers = {"csv": csv_layout.read_csv_release, "dat": dat_layout.read_dat_release,
               "100k": k100_layout.read_100k_release}
    raw = readers[layout](directory)
    notes: list[str] = []
    _check_movies(raw)
    ratings = _check_ratings(raw, options, notes)
    movies = _add_unknown_movies(raw, ratings, notes)
    data = MovieLensData(
        name=directory.resolve().name, layout=raw.layout, path=directory, ratings=ratings, movies=movies,
        tags=raw.tags, links=raw.links, rating_scale=raw.rating_scale, sha256=sha256_files(raw.files_read),
        genome_scores=raw.genome_scores, genome_tags=raw.genome_tags, notes=tuple(notes), users=raw.users,
        rating_step=raw.rating_step,
    )
    log.info("loaded %s: %d ratings, %d movies, %d tags", data.name, ratings.height, movies.height, raw.tags.height)
    return data


def _line(raw: RawRelease, row: int) -> int:
    return row + raw.ratings_first_line


def _check_movies(raw: RawRelease) -> None:
    first_repeat = raw.movies.select((~pl.col("movie_id").is_first_distinct()).arg_true().first()).item()
    if first_repeat is not None:
        movie = raw.movies["movie_id"][first_repeat]
        line = physical_line(raw.movies.select("title"), first_repeat, 2 if raw.layout == "csv" else 1)
        raise DataError(raw.movies_path, f"movie id {movie} listed twice", line=line)


def _check_ratings(raw: RawRelease, options: LoadOptions, notes: list[str]) -> pl.DataFrame:
    """Non-empty, on the release's scale and step, one rating per (user, movie)."""
    ratings, path = raw.ratings, raw.ratings_path
    if ratings.height == 0:
        raise DataError(path, "empty ratings file (no rating rows)")
    low, high = raw.rating_scale
    steps = pl.col("rating") / raw.rating_step
    off_scale = ((pl.col("rating") < low) | (pl.col("rating") > high) | (steps.round() != steps)
                 | pl.col("rating").is_nan())
    bad = ratings.select(off_scale.arg_true().first()).item()
    if bad is not None:
        value = ratings["rating"][bad]
        raise DataError(path, f"rating {value:g} is not on the scale {low:g}..{high:g} in steps of {raw.rating_step:g}",
                        line=_line(raw, bad))
    pair = (pl.col("user_id").cast(pl.Int64) * (1 << 32)) + pl.col("movie_id").cast(pl.Int64)
    if not ratings.select((pair.sort().diff() == 0).any()).item():  # a parallel sort: 1.5 s for 25M
        return ratings
    first = ratings.select(pair.is_first_distinct()).to_series()  # slower; only to count and locate
    n_repeats = first.len() - int(first.sum())
    if n_repeats == 0:
        return ratings
    row = int(first.not_().arg_true()[0])
    user, movie = ratings["user_id"][row], ratings["movie_id"][row]
    if not options.keep_last_duplicate:
        raise DataError(path, f"{n_repeats} duplicate (user, movie) ratings; the first repeats user {user}, "
                              f"movie {movie} (use keep_last_duplicate to keep the last)", line=_line(raw, row))
    note = f"{n_repeats} duplicate (user, movie) ratings in {path.name}: kept the last of each by file order"
    log.warning(note)
    notes.append(note)
    return ratings.filter(pair.is_last_distinct())


def _add_unknown_movies(raw: RawRelease, ratings: pl.DataFrame, notes: list[str]) -> pl.DataFrame:
    """Placeholder rows for movie ids that ratings or tags use but the movies file lacks (kept, not dropped)."""
    referenced = pl.concat([ratings["movie_id"], raw.tags["movie_id"]]).unique()
    unknown = referenced.filter(~referenced.is_in(raw.movies["movie_id"].implode())).sort()
    if unknown.len() == 0:
        return raw.movies
    n_ratings = ratings.filter(pl.col("movie_id").is_in(unknown.implode())).height
    note = (f"{unknown.len()} movie ids used by {n_ratings} ratings (or tags) are missing from "
            f"{raw.movies_path.name}: kept, with placeholder movies 'Unknown movie <id>'")
    log.warning(note)
    notes.append(note)
    movies = pl.concat([raw.movies, placeholder_movies(unknown)])
    # polars types cast()'s keys as column-or-selector, which no dict[str, ...] matches (pola-rs/polars#14468)
    return movies.cast(MOVIES_SCHEMA)  # type: ignore[arg-type]  # polars#14468, above
