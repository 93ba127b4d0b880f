"""The one owner of the DuckDB artifact's schema: table names, DDL and the schema version.

The build writes these tables and the handler reads them; neither spells a table or column
name that is not defined here. Bump SCHEMA_VERSION on any incompatible change so a handler
refuses an artifact it does not understand instead of answering wrongly.
"""

from __future__ import annotations

# 2: user_recommendations.because (the user's rated movies that explain each pick)
# 3: next_movies (the movies rated next after each movie); because entries gain `kind` ("similar" or "recent")
# 4: challenger_recommendations (an A/B experiment's other arm) and session_users (sessions a build learned from)
SCHEMA_VERSION = 4

# Where a build writes the artifact and where serving reads it unless told otherwise: the default of both
# BuildSettings.out (`latentlens build --out`) and the handler's Settings.db (`LATENTLENS_DB`, `serve --db`).
DEFAULT_ARTIFACT = "artifacts/latentlens.duckdb"

MOVIES = "movies"
USER_RECOMMENDATIONS = "user_recommendations"
CHALLENGER_RECOMMENDATIONS = "challenger_recommendations"
SESSION_USERS = "session_users"
SIMILAR_MOVIES = "similar_movies"
NEXT_MOVIES = "next_movies"
POPULAR_MOVIES = "popular_movies"
MODEL_METRICS = "model_metrics"
BUILD_INFO = "build_info"

# Public contract: SQL users, the handler and the tests rely on these names and columns.
# Lists are stored sorted by their key so DuckDB's zone maps make point lookups cheap.
TABLE_DDL: dict[str, str] = {
    MOVIES: """
        CREATE TABLE movies (
            movie_id      INTEGER PRIMARY KEY,
            title         VARCHAR NOT NULL,
            display_title VARCHAR NOT NULL,
            year          INTEGER,
            genres        VARCHAR[] NOT NULL,
            imdb_id       VARCHAR,
            tmdb_id       INTEGER,
            n_ratings     INTEGER NOT NULL,
            mean_rating   DOUBLE,
            search_key    VARCHAR NOT NULL
        )""",
    USER_RECOMMENDATIONS: """
        CREATE TABLE user_recommendations (
            user_id  INTEGER NOT NULL,
            rank     INTEGER NOT NULL,
            movie_id INTEGER NOT NULL,
            score    DOUBLE NOT NULL,
            because  STRUCT(movie_id INTEGER, rating FLOAT, kind VARCHAR)[] NOT NULL
        )""",
    # `build --challenger MODEL`: that model's lists, the same columns as user_recommendations; empty without one.
    CHALLENGER_RECOMMENDATIONS: """
        CREATE TABLE challenger_recommendations (
            user_id  INTEGER NOT NULL,
            rank     INTEGER NOT NULL,
            movie_id INTEGER NOT NULL,
            score    DOUBLE NOT NULL,
            because  STRUCT(movie_id INTEGER, rating FLOAT, kind VARCHAR)[] NOT NULL
        )""",
    # `build --events`: a session that rated movies is trained as a user of its own (an id above the dataset's);
    # it is found again by the sha256 of its session id (hex), so the file names no session a client holds.
    SESSION_USERS: """
        CREATE TABLE session_users (
            session_sha256 VARCHAR PRIMARY KEY,
            user_id        INTEGER NOT NULL
        )""",
    SIMILAR_MOVIES: """
        CREATE TABLE similar_movies (
            movie_id         INTEGER NOT NULL,
            rank             INTEGER NOT NULL,
            similar_movie_id INTEGER NOT NULL,
            score            DOUBLE NOT NULL,
            source           VARCHAR NOT NULL
        )""",
    NEXT_MOVIES: """
        CREATE TABLE next_movies (
            movie_id      INTEGER NOT NULL,
            rank          INTEGER NOT NULL,
            next_movie_id INTEGER NOT NULL,
            score         DOUBLE NOT NULL
        )""",
    POPULAR_MOVIES: """
        CREATE TABLE popular_movies (
            genre    VARCHAR,
            rank     INTEGER NOT NULL,
            movie_id INTEGER NOT NULL,
            score    DOUBLE NOT NULL
        )""",
    MODEL_METRICS: """
        CREATE TABLE model_metrics (
            model    VARCHAR NOT NULL,
            protocol VARCHAR NOT NULL,
            metric   VARCHAR NOT NULL,
            value    DOUBLE
        )""",
    BUILD_INFO: """
        CREATE TABLE build_info (
            key   VARCHAR PRIMARY KEY,
            value VARCHAR
        )""",
}

# Columns each public table must expose (extra columns are allowed, these are not negotiable).
PUBLIC_COLUMNS: dict[str, tuple[str, ...]] = {
    MOVIES: ("movie_id", "title", "display_title", "year", "genres", "imdb_id", "tmdb_id",
             "n_ratings", "mean_rating"),
    USER_RECOMMENDATIONS: ("user_id", "rank", "movie_id", "score", "because"),
    CHALLENGER_RECOMMENDATIONS: ("user_id", "rank", "movie_id", "score", "because"),
    SESSION_USERS: ("session_sha256", "user_id"),
    SIMILAR_MOVIES: ("movie_id", "rank", "similar_movie_id", "score"),
    NEXT_MOVIES: ("movie_id", "rank", "next_movie_id", "score"),
    POPULAR_MOVIES: ("genre", "rank", "movie_id", "score"),
    MODEL_METRICS: ("model", "protocol", "metric", "value"),
    BUILD_INFO: ("key", "value"),
}

# user_recommendations.because: up to BECAUSE_N of the user's rated movies with their rating and kind, the
# largest contributions first; a contribution is item-kNN similarity(recommended, rated) x (rating -
# the user's mean rating), content similarity where no item-kNN neighbour contributes; empty when
# none does (build/export/because.py). These are kind "similar". A pick in the next_movies list of one of
# the user's RECENT_N latest ratings (the order rule: timestamp, ties by position in the ratings file) rated
# above their mean gets that movie first, kind "recent" ("because you recently rated X"): the latest such.
BECAUSE_N = 3
REASON_SIMILAR = "similar"
REASON_RECENT = "recent"
REASON_KINDS = (REASON_SIMILAR, REASON_RECENT)
# How many of a history's latest ratings count as recent: the user's in the build, the last listed of a
# "rate a few" request (the order given: the last one is the latest).
RECENT_N = 3
# ... stored for each user's first BECAUSE_RANKS picks only; ranks after it carry an empty list. The page
# shows 10; all 100 ranks would make the column ~5x larger (~144 MB of a ~275 MB artifact at ML-25M).
BECAUSE_RANKS = 20

# Ranked lists: (table, key columns identifying one list). Ranks within a list are 1..n.
RANKED_LISTS: dict[str, tuple[str, ...]] = {
    USER_RECOMMENDATIONS: ("user_id",),
    CHALLENGER_RECOMMENDATIONS: ("user_id",),
    SIMILAR_MOVIES: ("movie_id",),
    NEXT_MOVIES: ("movie_id",),
    POPULAR_MOVIES: ("genre",),
}

# Numbers the API serves, by table: each must be finite (NULL where the DDL allows one). JSON has no NaN or
# Infinity, so one such score would make an answer unencodable: the build's verification refuses to publish
# an artifact holding one and the handler refuses to open it (reason artifact_invalid).
FINITE_COLUMNS: dict[str, tuple[str, ...]] = {
    USER_RECOMMENDATIONS: ("score",),
    CHALLENGER_RECOMMENDATIONS: ("score",),
    SIMILAR_MOVIES: ("score",),
    NEXT_MOVIES: ("score",),
    POPULAR_MOVIES: ("score",),
    MOVIES: ("mean_rating",),
}
_LARGEST_DOUBLE = "1.7976931348623157e308"


def not_finite_sql(column: str) -> str:
    """SQL that is true for NaN, +inf and -inf (NULL for NULL): a range test rather than `NOT isfinite(...)`, so
    DuckDB answers it from each row group's min/max (NaN sorts above +inf): about 1 ms instead of a ~100 ms scan,
    measured on 16.2M synthetic scores (ML-25M's user_recommendations) with one thread. The same rows either way."""
    return f"NOT ({column} BETWEEN -{_LARGEST_DOUBLE} AND {_LARGEST_DOUBLE})"


# Sort order written to disk, so each list is one contiguous run of rows.
SORT_KEYS: dict[str, tuple[str, ...]] = {
    MOVIES: ("movie_id",),
    USER_RECOMMENDATIONS: ("user_id", "rank"),
    CHALLENGER_RECOMMENDATIONS: ("user_id", "rank"),
    SESSION_USERS: ("session_sha256",),
    SIMILAR_MOVIES: ("movie_id", "rank"),
    NEXT_MOVIES: ("movie_id", "rank"),
    POPULAR_MOVIES: ("genre", "rank"),
}

# Keys of build_info that every artifact carries.
REQUIRED_BUILD_INFO = (
    "schema_version",
    "dataset_name",
    "dataset_sha256",
    "n_users",
    "n_movies",
    "n_ratings",
    "topn_champion",
    "rating_champion",
    "mlflow_run_id",
    "created_at",
    "package_version",
)

MANIFEST_SUFFIX = ".sha256"


def manifest_path(artifact_path: str) -> str:
    """Where the sha256 manifest of an artifact lives: beside it, same name plus `.sha256`."""
    return artifact_path + MANIFEST_SUFFIX


def manifest_text(digest: str, artifact_name: str, fingerprint: str | None = None) -> str:
    """The manifest: one line in `sha256sum` format (so `sha256sum -c` checks it too), then, when given, the
    file's sampled fingerprint (fingerprint_file) on a `#` line, which `sha256sum -c` skips."""
    line = f"{digest}  {artifact_name}\n"
    return line if fingerprint is None else f"{line}{FINGERPRINT_PREFIX}{fingerprint}\n"


def parse_manifest(text: str) -> tuple[str, str] | None:
    """(lower-case digest, file name) of a manifest's `<64 hex>  <filename>` line, or None when the text is
    not one. `sha256sum -b`'s '*' before the name is accepted; `#` lines are skipped. The build, the handler and
    deploy all read manifests with this one function, so they agree on what a manifest is."""
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    fields = lines[0].split() if len(lines) == 1 else []
    if len(fields) != 2 or len(fields[0]) != 64 or any(c not in "0123456789abcdef" for c in fields[0].lower()):
        return None
    return fields[0].lower(), fields[1].lstrip("*")


FINGERPRINT_PREFIX = "# fingerprint "
FINGERPRINT_VERSION = "v1"
FINGERPRINT_HEAD = 1 << 20     # DuckDB's file headers and first blocks
FINGERPRINT_SPREAD = 64        # blocks of FINGERPRINT_BLOCK bytes at evenly spaced offsets
FINGERPRINT_BLOCK = 1 << 16


def manifest_fingerprint(text: str) -> str | None:
    """The fingerprint a manifest carries (manifest_text), or None (a manifest written before it had one)."""
    for line in text.splitlines():
        if line.startswith(FINGERPRINT_PREFIX):
            return line.removeprefix(FINGERPRINT_PREFIX).strip()
    return None


def fingerprint_file(path) -> str:
    """A sampled digest of a file: its size, its first MiB, its last 64 KiB and 64 blocks of 64 KiB spread
    evenly between (about 5 MB read whatever the size). It tells a truncated, extended or swapped file from
    the one the manifest was written for in milliseconds; a flipped byte between the samples it misses,
    which is why a handler that opens on it still finishes the full sha256 beside its first answers
    (handler.artifact, `quick_verify`). The standard library only, as the handler must."""
    import hashlib
    import os

    size = os.path.getsize(path)
    starts = [0, max(0, size - FINGERPRINT_BLOCK)]
    starts += [size * (i + 1) // (FINGERPRINT_SPREAD + 1) for i in range(FINGERPRINT_SPREAD)]
    digest = hashlib.sha256(f"{FINGERPRINT_VERSION} {size}\n".encode())
    fd = os.open(path, os.O_RDONLY)
    try:
        for start in sorted(starts):
            length = FINGERPRINT_HEAD if start == 0 else FINGERPRINT_BLOCK
            digest.update(start.to_bytes(8, "little") + os.pread(fd, length, start))
    finally:
        os.close(fd)
    return f"{FINGERPRINT_VERSION}:{digest.hexdigest()}"


def sha256_file(path) -> str:
    """Hex sha256 of a file: the digest every manifest holds (build, deploy, handler).

    The file is mapped and hashed in one call, which holds the GIL once: the handler hashes on a
    thread beside Python work (the movie map), and chunked reads had to win the GIL back for every
    chunk (a 228 MB artifact: 160 ms alone, 436 ms beside a busy main thread in 1 MB chunks).
    Nothing is read into Python memory; the pages are the OS's file cache."""
    import hashlib
    import mmap
    import os

    with open(path, "rb") as fh:
        if os.fstat(fh.fileno()).st_size == 0:  # an empty file cannot be mapped
            return hashlib.sha256().hexdigest()
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            return hashlib.sha256(mapped).hexdigest()


def session_sha256(session_id: str) -> str:
    """How the artifact names a session (session_users.session_sha256): the sha256, hex, of its id's UTF-8 bytes."""
    import hashlib

    return hashlib.sha256(session_id.encode()).hexdigest()


def search_key(text: str) -> str:
    """Case- and accent-folded form of a title, used for search on both sides of the schema.

    Written by the build into movies.search_key; the handler folds the query the same way.
    """
    import unicodedata

    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.casefold().split())
