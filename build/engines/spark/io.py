"""Read one MovieLens release on Spark, with the loader's rules and the loader's errors.

Layouts: "csv" (ratings.csv + movies.csv), "dat" (ratings.dat + movies.dat, `::`), "100k"
(u.data, tab-separated, + u.item + u.genre) and "parquet" (ratings.parquet, a file or a directory
of parts, with userId/movieId/rating/timestamp or user_id/movie_id/rating/timestamp; movies from
movies.csv or movies.parquet when present).
Ratings stay distributed; only the catalogue (movies, links: thousands of rows) is read on the
driver, by the loader's own readers, so its checks and messages are the loader's.

Rules on the ratings, each a DataError naming the file and, for text files, the 1-based line
(header included; Parquet names the row): wrong header, a field count off, a missing value or
a truncated last line, a value that is not a number, no rating rows, a rating off the scale
or step, duplicate (user, movie) ratings unless keep_last_duplicate (then the last by file
order is kept). The happy path costs one pass for the checks and one aggregation for
duplicates; line numbers are only computed when there is an error to report.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from latentlens.build.data.formats import csv_layout, dat_layout, k100_layout
from latentlens.build.data.formats.reading import read_file, read_table, sha256_files
from latentlens.build.data.formats.titles import finish_movies, genres_expr, placeholder_movies
from latentlens.build.data.tables import LINKS_SCHEMA, MOVIES_SCHEMA
from latentlens.build.engines.spark.files import Files, as_uri, data_error, is_local, local_path
from latentlens.build.progress import get_logger

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

log = get_logger(__name__)

COLUMNS = ("user_id", "movie_id", "rating", "timestamp")
PARQUET_NAMES = {"user_id": ("userId", "user_id"), "movie_id": ("movieId", "movie_id"),
                 "rating": ("rating",), "timestamp": ("timestamp",)}
CSV_HEADER = ("userId", "movieId", "rating", "timestamp")
POS_BITS = 33  # monotonically_increasing_id: partition id in the bits above 33, row in partition below


@dataclass(frozen=True)
class SparkRelease:
    """One release: ratings as a cached Spark frame (COLUMNS + `pos`, the file order), the catalogue on the driver."""

    name: str
    layout: str
    uri: str                       # the ratings file (or Parquet directory)
    ratings: DataFrame
    n_ratings: int
    movies: pl.DataFrame           # MOVIES_SCHEMA, placeholders for unknown ids included
    links: pl.DataFrame            # LINKS_SCHEMA
    rating_scale: tuple[float, float]
    rating_step: float
    sha256: str
    notes: tuple[str, ...]


@dataclass(frozen=True)
class _Layout:
    name: str
    ratings: str
    separator: str | None         # None: Parquet
    header: bool
    scale: tuple[float, float]
    step: float


def detect(files: Files, root: str) -> _Layout:
    """The layout by its marker files, with the loader's messages."""
    if not files.exists(root):
        raise data_error(root, "no such directory")
    if not files.is_dir(root):
        raise data_error(root, "not a directory")
    has = set(files.names(root))
    if "ratings.csv" in has or "movies.csv" in has and "ratings.parquet" not in has:
        for name in ("ratings.csv", "movies.csv"):
            if name not in has:
                raise data_error(files.join(root, name), f"required file {name} is missing (csv layout)")
        return _Layout("csv", "ratings.csv", ",", True, (0.5, 5.0), 0.5)
    if "ratings.dat" in has or "movies.dat" in has:
        for name in ("ratings.dat", "movies.dat"):
            if name not in has:
                raise data_error(files.join(root, name), f"required file {name} is missing (dat layout)")
        one_million = "users.dat" in has
        return _Layout("dat", "ratings.dat", "::", False, (1.0, 5.0) if one_million else (0.5, 5.0),
                       1.0 if one_million else 0.5)
    if "u.data" in has or "u.item" in has:  # the loader's order: csv, dat, 100k
        for name in ("u.data", "u.item"):
            if name not in has:
                raise data_error(files.join(root, name), f"required file {name} is missing (100k layout)")
        return _Layout("100k", "u.data", "\t", False, (1.0, 5.0), 1.0)
    if "ratings.parquet" in has:
        return _Layout("parquet", "ratings.parquet", None, False, (0.5, 5.0), 0.5)
    shown = ", ".join(sorted(has)[:12]) + (", ..." if len(has) > 12 else "") if has else "an empty directory"
    raise data_error(root, "unknown MovieLens layout: expected ratings.csv, ratings.dat, u.data or ratings.parquet; "
                           f"found {shown}")


def read_release(spark: SparkSession, location: str | Path, keep_last_duplicate: bool, scratch: Path) -> SparkRelease:
    from pyspark import StorageLevel

    files = Files(spark)
    root = as_uri(location).rstrip("/")
    layout = detect(files, root)
    uri = files.join(root, layout.ratings)
    log.info("spark: loading %s (%s layout)", root, layout.name)
    notes: list[str] = []
    if layout.separator is None:
        parsed = _parquet_ratings(spark, uri)
    else:
        parsed = _text_ratings(spark, files, uri, layout)
    ratings = _check_scale_and_duplicates(parsed, uri, layout, keep_last_duplicate, notes, files)
    if ratings is not parsed:  # duplicates dropped: a new plan, cached on its own
        ratings = ratings.persist(StorageLevel.MEMORY_AND_DISK)
    n_ratings = ratings.count()
    movies, links, read_paths = _catalogue(files, root, layout, scratch)
    movies = _add_unknown_movies(ratings, movies, notes, layout)
    digest = _digest(files, uri, read_paths, layout)
    name = root.rsplit("/", 1)[-1]
    log.info("spark: loaded %s: %d ratings, %d movies", name, n_ratings, movies.height)
    return SparkRelease(name, layout.name, uri, ratings, n_ratings, movies, links, layout.scale, layout.step,
                        digest, tuple(notes))


# --- ratings from text ---------------------------------------------------------------------------

def _text_ratings(spark: SparkSession, files: Files, uri: str, layout: _Layout) -> DataFrame:
    """Typed ratings plus `pos`; a DataError at the first line that does not parse."""
    from pyspark.sql import functions as F

    if files.size(uri) == 0:
        raise data_error(uri, "empty file (0 bytes)")
    if layout.header:
        found = files.first_line(uri).decode("utf-8", errors="replace").lstrip("\ufeff").rstrip("\r")
        names = tuple(n.strip().strip('"') for n in found.split(",")) if found else ()
        if names != CSV_HEADER:
            shown = ",".join(names) if names else "nothing"
            raise data_error(uri, f"wrong header: expected {','.join(CSV_HEADER)}, found {shown}", line=1)
    text = spark.read.text(uri).select(
        F.monotonically_increasing_id().alias("pos"), F.regexp_replace(F.col("value"), "\r$", "").alias("value"))
    if layout.header:
        text = text.where(F.col("pos") != 0)  # the header: first row of the first partition
    assert layout.separator is not None  # a text layout (Parquet ratings are read by _parquet_ratings)
    fields = F.split(F.col("value"), layout.separator, -1)
    raw = {name: F.trim(F.get(fields, i)) for i, name in enumerate(COLUMNS)}
    types = {"user_id": "int", "movie_id": "int", "rating": "float", "timestamp": "bigint"}
    typed = {name: raw[name].try_cast(types[name]) for name in COLUMNS}
    frame = text.select("pos", "value", F.size(fields).alias("n_fields"),
                        *[raw[c].alias(f"raw_{c}") for c in COLUMNS], *[typed[c].alias(c) for c in COLUMNS])
    missing = [(F.col(f"raw_{c}").isNull() | (F.col(f"raw_{c}") == "")) for c in COLUMNS]
    not_number = [(~m & F.col(c).isNull()) for m, c in zip(missing, COLUMNS, strict=True)]
    problem = F.when(F.col("n_fields") > len(COLUMNS), F.lit("fields"))
    problem = problem.when(_any(missing), F.lit("missing")).when(_any(not_number), F.lit("number"))
    from pyspark import StorageLevel

    # one pass over the text: typed values and a problem flag, cached for every later check
    typed_rows = frame.select("pos", *COLUMNS, problem.alias("problem")).persist(StorageLevel.MEMORY_AND_DISK)
    first_bad = typed_rows.where(F.col("problem").isNotNull()).agg(F.min("pos")).collect()[0][0]
    if first_bad is not None:
        typed_rows.unpersist()
        row = frame.where(F.col("pos") == first_bad).withColumn("problem", problem).collect()[0]
        line = _line_of(spark, uri, row["pos"])
        if row["problem"] == "fields":
            raise data_error(uri, f"expected {len(COLUMNS)} fields, found {row['n_fields']}", line=line)
        if row["problem"] == "missing":
            lost = [c for c in COLUMNS if not row[f"raw_{c}"]]
            if files.last_byte(uri) != 10 and line == _n_lines(spark, uri):
                raise data_error(uri, "truncated last line (no newline at end of file and fields missing)",
                                 line=line)
            raise data_error(uri, f"missing value for {', '.join(lost)}", line=line)
        name = next(c for c in COLUMNS if row[f"raw_{c}"] and row[c] is None)
        kind = "number" if name == "rating" else "integer"
        raise data_error(uri, f"{name}: {row[f'raw_{name}']!r} is not a valid {kind}", line=line)
    return typed_rows.drop("problem")


def _any(conditions: list[Column]) -> Column:
    out = conditions[0]
    for c in conditions[1:]:
        out = out | c
    return out


def _partition_offsets(spark: SparkSession, uri: str) -> dict[int, int]:
    """Lines before each partition of the text file (the error path only: one more pass)."""
    from pyspark.sql import functions as F

    counts = (spark.read.text(uri).select(F.spark_partition_id().alias("pid")).groupBy("pid").count()
              .orderBy("pid").collect())
    offsets, total = {}, 0
    for r in counts:
        offsets[int(r["pid"])] = total
        total += int(r["count"])
    offsets[-1] = total
    return offsets


def _line_of(spark: SparkSession, uri: str, pos: int) -> int:
    """1-based line of the row whose monotonically_increasing_id is `pos` (its partition's
    offset plus its index in the partition: splits of one file are read in file order)."""
    offsets = _partition_offsets(spark, uri)
    return offsets[pos >> POS_BITS] + (pos & ((1 << POS_BITS) - 1)) + 1


def _n_lines(spark: SparkSession, uri: str) -> int:
    return _partition_offsets(spark, uri)[-1]


# --- ratings from Parquet ------------------------------------------------------------------------

def _parquet_ratings(spark: SparkSession, uri: str) -> DataFrame:
    from pyspark.sql import functions as F

    try:
        frame = spark.read.parquet(uri)
    except Exception as exc:  # not Parquet, unreadable: say which file
        raise data_error(uri, f"cannot read Parquet: {str(exc).splitlines()[0]}") from exc
    chosen = {}
    for name, options in PARQUET_NAMES.items():
        match = next((o for o in options if o in frame.columns), None)
        if match is None:
            raise data_error(uri, f"missing column {options[0]} (found {', '.join(frame.columns)})")
        chosen[name] = match
    types = {"user_id": "int", "movie_id": "int", "rating": "float", "timestamp": "bigint"}
    typed = frame.select(F.monotonically_increasing_id().alias("pos"),
                         *[F.col(chosen[c]).alias(f"raw_{c}") for c in COLUMNS],
                         *[F.col(chosen[c]).try_cast(types[c]).alias(c) for c in COLUMNS])
    problem = None
    for c in COLUMNS:
        cond = F.col(f"raw_{c}").isNull()
        message = F.lit(f"missing value for {c}")
        problem = F.when(cond, message) if problem is None else problem.when(cond, message)
    assert problem is not None  # COLUMNS is not empty
    for c in COLUMNS:
        problem = problem.when(F.col(c).isNull(), F.lit(f"{c}: not a valid {'number' if c == 'rating' else 'integer'}"))
    from pyspark import StorageLevel

    bad = typed.where(problem.isNotNull()).select("pos", problem.alias("problem")).orderBy("pos").limit(1).collect()
    if bad:
        raise data_error(uri, f"row {_row_of(typed, bad[0]['pos'])}: {bad[0]['problem']}")
    return typed.select("pos", *COLUMNS).persist(StorageLevel.MEMORY_AND_DISK)


def _row_of(frame: DataFrame, pos: int) -> int:
    """1-based row number of `pos` in file order (the error path only)."""
    from pyspark.sql import functions as F

    return frame.where(F.col("pos") <= pos).count()


# --- checks over all ratings ---------------------------------------------------------------------

def _check_scale_and_duplicates(ratings: DataFrame, uri: str, layout: _Layout, keep_last: bool,
                                notes: list[str], files: Files) -> DataFrame:
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    low, high = layout.scale
    steps = F.col("rating") / F.lit(layout.step)
    off = (F.col("rating") < low) | (F.col("rating") > high) | (F.round(steps) != steps) | F.isnan("rating")
    stats = ratings.agg(F.count("*").alias("n"), F.min(F.when(off, F.col("pos"))).alias("off")).collect()[0]
    spark = ratings.sparkSession
    where = (lambda pos: _line_of(spark, uri, pos)) if layout.separator else None
    if stats["n"] == 0:
        raise data_error(uri, "empty ratings file (no rating rows)")
    if stats["off"] is not None:
        row = ratings.where(F.col("pos") == stats["off"]).first()
        assert row is not None  # stats["off"] is the pos of one of these rows
        value = row["rating"]
        problem = f"rating {value:g} is not on the scale {low:g}..{high:g} in steps of {layout.step:g}"
        if where is None:
            raise data_error(uri, f"row {_row_of(ratings, stats['off'])}: {problem}")
        raise data_error(uri, problem, line=where(stats["off"]))
    pairs = ratings.groupBy("user_id", "movie_id").count().where(F.col("count") > 1)
    n_repeats = pairs.agg(F.sum(F.col("count") - 1)).collect()[0][0] or 0
    if n_repeats == 0:
        return ratings
    if not keep_last:
        order = Window.partitionBy("user_id", "movie_id").orderBy("pos")
        first = (ratings.withColumn("nth", F.row_number().over(order)).where(F.col("nth") > 1)
                 .orderBy("pos").limit(1).collect()[0])
        problem = (f"{n_repeats} duplicate (user, movie) ratings; the first repeats user {first['user_id']}, "
                   f"movie {first['movie_id']} (use keep_last_duplicate to keep the last)")
        if where is None:
            raise data_error(uri, f"row {_row_of(ratings, first['pos'])}: {problem}")
        raise data_error(uri, problem, line=where(first["pos"]))
    note = (f"{n_repeats} duplicate (user, movie) ratings in {uri.rsplit('/', 1)[-1]}: "
            "kept the last of each by file order")
    log.warning(note)
    notes.append(note)
    last = F.max("pos").over(Window.partitionBy("user_id", "movie_id"))
    return ratings.withColumn("last", last).where(F.col("pos") == F.col("last")).drop("last")


# --- the catalogue, on the driver ----------------------------------------------------------------

def _catalogue(files: Files, root: str, layout: _Layout, scratch: Path) -> tuple[pl.DataFrame, pl.DataFrame, list[str]]:
    """movies and links by the loader's readers; remote files are copied to `scratch` first."""
    read: list[str] = []

    def local(name: str) -> Path | None:
        uri = files.join(root, name)
        if not files.is_file(uri):
            return None
        read.append(uri)
        return files.local_copy(uri, scratch)

    def required(name: str) -> Path:
        """A file detect() (or the check before) saw: missing only if it went away since."""
        path = local(name)
        if path is None:
            raise data_error(files.join(root, name), f"required file {name} is missing")
        return path

    links = pl.DataFrame(schema=LINKS_SCHEMA)
    if layout.name == "dat":
        movies_dat = required("movies.dat")
        one_million = layout.step == 1.0
        raw = read_table(movies_dat, dat_layout.MOVIES,
                         dat_layout.transcode(movies_dat, text=True, latin1_fallback=one_million))
        movies = finish_movies(raw.with_columns(genres_expr(pl.col("genres"))))
        movies_uri = files.join(root, "movies.dat")
    elif layout.name == "100k":
        genre_uri = files.join(root, "u.genre")
        if not files.is_file(genre_uri):
            raise data_error(genre_uri, "required file u.genre is missing")
        items, genres = required("u.item"), required("u.genre")
        local("u.user")  # not used, but part of the release's digest, as in-process
        movies = k100_layout.read_movies(items, genres)
        movies_uri = files.join(root, "u.item")
    elif (path := local("movies.csv")) is not None:
        movies = finish_movies(read_file(path, csv_layout.MOVIES).with_columns(genres_expr(pl.col("genres"))))
        movies_uri = files.join(root, "movies.csv")
        if (links_path := local("links.csv")) is not None:
            links = read_file(links_path, csv_layout.LINKS).with_columns(
                pl.col("imdb_id").str.strip_chars().str.zfill(7))
    elif (path := local("movies.parquet")) is not None:
        table = pl.read_parquet(path)
        rename = {"movieId": "movie_id"}
        table = table.rename({k: v for k, v in rename.items() if k in table.columns})
        movies = finish_movies(table.select("movie_id", "title", genres_expr(pl.col("genres").cast(pl.Utf8))))
        movies_uri = files.join(root, "movies.parquet")
    else:
        movies, movies_uri = pl.DataFrame(schema=MOVIES_SCHEMA), root
    repeat = movies.select((~pl.col("movie_id").is_first_distinct()).arg_true().first()).item()
    if repeat is not None:
        line = repeat + (1 if layout.name in ("dat", "100k") else 2)
        raise data_error(movies_uri, f"movie id {movies['movie_id'][repeat]} listed twice", line=line)
    # polars types cast()'s keys as column-or-selector, which no dict[str, ...] matches (pola-rs/polars#14468)
    movies = movies.cast(MOVIES_SCHEMA)  # type: ignore[arg-type]  # polars#14468, above
    links = links.cast(LINKS_SCHEMA)  # type: ignore[arg-type]  # polars#14468, above
    return movies, links, read


def _add_unknown_movies(ratings: DataFrame, movies: pl.DataFrame, notes: list[str], layout: _Layout) -> pl.DataFrame:
    """Placeholder rows for rated movie ids the movies file lacks (kept, as the loader does)."""
    from pyspark.sql import functions as F

    known = ratings.sparkSession.createDataFrame(movies.select("movie_id").to_arrow())
    unknown_rows = (ratings.join(F.broadcast(known), "movie_id", "left_anti")
                    .groupBy("movie_id").count().collect())
    if not unknown_rows:
        return movies
    unknown = pl.Series("movie_id", sorted(int(r["movie_id"]) for r in unknown_rows), dtype=pl.Int32)
    n_ratings = sum(int(r["count"]) for r in unknown_rows)
    name = {"dat": "movies.dat", "100k": "u.item", "parquet": "movies.parquet"}.get(layout.name, "movies.csv")
    note = (f"{unknown.len()} movie ids used by {n_ratings} ratings (or tags) are missing from "
            f"{name}: kept, with placeholder movies 'Unknown movie <id>'")
    log.warning(note)
    notes.append(note)
    movies = pl.concat([movies, placeholder_movies(unknown)])
    # polars types cast()'s keys as column-or-selector, which no dict[str, ...] matches (pola-rs/polars#14468)
    return movies.cast(MOVIES_SCHEMA)  # type: ignore[arg-type]  # polars#14468, above


def _digest(files: Files, ratings_uri: str, catalogue: list[str], layout: _Layout) -> str:
    """Local files: the loader's sha256 over the files read (the same digest the in-process build
    records). Remote ones: a digest of names, sizes and modification times (reading them twice
    to hash would cost more than the build's first pass)."""
    uris = sorted([ratings_uri, *catalogue], key=lambda u: u.rsplit("/", 1)[-1])
    if all(is_local(u) for u in uris) and layout.separator is not None:
        return sha256_files([local_path(u) for u in uris])
    digest = hashlib.sha256()
    for u in uris:
        digest.update(f"{u}\0{files.size(u)}\0{files.modified(u)}\0".encode())
    return digest.hexdigest()
