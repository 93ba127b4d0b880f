"""Open one artifact file for serving: verify its checksum, its schema and that the numbers it serves are finite,
read its build_info.

Every way an artifact can be unusable raises ArtifactUnavailable with a stable reason code,
which /health reports and every other endpoint turns into a 503.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
from dataclasses import dataclass, field, replace
from functools import cached_property

import duckdb

from latentlens.handler import schema
from latentlens.handler.list_cache import ListCache
from latentlens.handler.movie_map import LazyMovies, Movies, genre_spellings
from latentlens.handler.schema import sha256_file
from latentlens.handler.settings import Settings
from latentlens.handler.title_index import TitleIndex

# What the title index is built from (also what `latentlens publish dynamodb` ships for it).
TITLE_ROWS = f"SELECT movie_id, n_ratings, search_key FROM {schema.MOVIES}"

API_VERSION = "3"  # bump when a response shape changes, so cached ETags from the old shape expire


class ArtifactUnavailable(Exception):
    """The artifact cannot be served; `reason` is a stable code, the message says why."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class Artifact:
    """An open, verified artifact and what the API needs to know about it, read once."""

    conn: duckdb.DuckDBPyConnection | None  # None: a build served from DynamoDB (handler.dynamodb)
    path: str
    build_info: dict[str, str]
    sha256: str | None
    etag: str
    # Held in memory so the hot path is one small DuckDB query plus dict lookups, not a join (a DuckDB artifact's
    # movies are read as answers first name them: handler.movie_map):
    movies: Movies = field(default_factory=Movies)
    popular: dict[str | None, list[tuple[int, float]]] = field(default_factory=dict)  # genre (None: overall) -> ranked
    genres: dict[str, str] = field(default_factory=dict)  # casefolded -> canonical spelling
    # Each movie's similar and next-movies lists once a fold has read them (handler.list_cache):
    similar_lists: ListCache = field(default_factory=ListCache, compare=False, repr=False)
    next_lists: ListCache = field(default_factory=ListCache, compare=False, repr=False)
    # challenger_recommendations holds lists (`build --challenger`): an experiment's challenger arm can be served.
    challenger: bool = False
    # The full sha256 still running beside the answers (settings.quick_verify), or None once it was awaited.
    full_check: _Verification | None = field(default=None, compare=False, repr=False)

    @cached_property
    def titles(self) -> TitleIndex:
        """Built on the first search, not at open: ~0.3 s at ML-25M (0.05 s embedded) that a cold start need not pay."""
        assert self.conn is not None  # a DynamoDB build (PublishedBuild) has its own titles
        cur = self.conn.cursor()
        try:
            return TitleIndex(cur.execute(TITLE_ROWS).fetchall())
        finally:
            cur.close()


def manifest_digest(text: str) -> str:
    """The digest of a manifest (schema.parse_manifest), or manifest_invalid."""
    parsed = schema.parse_manifest(text)
    if parsed is None:
        raise ArtifactUnavailable("manifest_invalid", "sha256 manifest is not `<64-digit hex digest>  <filename>`")
    return parsed[0]


def digests_match(a: str, b: str) -> bool:
    return hmac.compare_digest(a.lower(), b.lower())


def verify_local(path: str) -> str:
    """Check a local file against the manifest beside it; returns the digest. `path` is resolved first
    (see open_artifact), so a build published meanwhile cannot pair its manifest with the old file."""
    path = os.path.realpath(path)
    mpath = schema.manifest_path(path)
    try:
        with open(mpath, encoding="utf-8") as fh:
            expected = manifest_digest(fh.read(4096))
    except FileNotFoundError:
        raise ArtifactUnavailable("manifest_missing",
                                  f"no sha256 manifest beside the artifact ({os.path.basename(mpath)})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ArtifactUnavailable("manifest_invalid", f"cannot read the sha256 manifest: {exc}") from None
    actual = sha256_file(path)
    if not digests_match(actual, expected):
        raise ArtifactUnavailable("checksum_mismatch",
                                  "artifact does not match its sha256 manifest (truncated or corrupted)")
    return actual


def _lowest_priority() -> None:
    """Give the calling thread the lowest CPU priority (nice 19; on Linux setpriority on a thread id sets that
    thread's only). A full sha256 left running beside the first answers then takes only the CPU they leave: on
    Lambda (about 0.6 vCPU at 1024 MB) it would otherwise take half of it from the first request."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    except (AttributeError, OSError):  # no setpriority here (Windows): the check runs at the usual priority
        pass


class _Verification(threading.Thread):
    """verify_local on a thread: hashlib releases the GIL while it hashes, so the ~275 MB sha256 of an
    ML-25M artifact runs beside DuckDB's open and the movie map instead of before them."""

    def __init__(self, path: str, background: bool = False) -> None:
        super().__init__(name="artifact-sha256", daemon=True)
        self.path = path
        self.background = background  # nothing waits for it (a quick open): it yields the CPU to the answers
        self.digest: str | None = None
        self.error: ArtifactUnavailable | None = None
        self.start()

    def run(self) -> None:
        if self.background:
            _lowest_priority()
        try:
            self.digest = verify_local(self.path)
        except ArtifactUnavailable as exc:
            self.error = exc
        except OSError as exc:  # the file vanished or became unreadable while being hashed
            self.error = ArtifactUnavailable("artifact_unreadable", f"cannot read the artifact: {exc}")

    def result(self) -> str:
        """The verified digest; raises the verification's ArtifactUnavailable."""
        self.join()
        if self.error is not None:
            raise self.error
        assert self.digest is not None
        return self.digest


def connect(path: str, settings: Settings) -> duckdb.DuckDBPyConnection:
    """The one way LatentLens opens an artifact in DuckDB, and its sandbox: read-only, no extension installed
    or loaded on demand, external access off (no other file read or written, no network), DuckDB's temp and
    home directories under `settings.tmp_dir`. The API, `Lens.sql` and `latentlens query` all run on it."""
    home = os.path.join(settings.tmp_dir, "duckdb-home")
    temp = os.path.join(settings.tmp_dir, "duckdb-tmp")
    os.makedirs(home, exist_ok=True)
    config: dict[str, str | bool | int | float | list[str]] = {
        "threads": settings.duckdb_threads,
        "memory_limit": settings.duckdb_memory_limit,
        "temp_directory": temp,
        "home_directory": home,
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
    }
    conn = duckdb.connect(path, read_only=True, config=config)
    # After connecting: DuckDB refuses the temp_directory setting once external access is off.
    conn.execute("SET enable_external_access = false")  # our SQL never needs other files
    return conn


def _read_build_info(conn: duckdb.DuckDBPyConnection) -> dict[str, str]:
    rows = conn.execute(f"SELECT key, value FROM {schema.BUILD_INFO}").fetchall()
    return {str(k): ("" if v is None else str(v)) for k, v in rows}


def _check_schema(conn: duckdb.DuckDBPyConnection, info: dict[str, str]) -> None:
    raw = info.get("schema_version", "")
    try:
        version = int(raw)
    except ValueError:
        raise ArtifactUnavailable("artifact_incomplete",
                                  f"build_info.schema_version is not an integer: {raw!r}") from None
    if version > schema.SCHEMA_VERSION:
        raise ArtifactUnavailable("schema_too_new", f"artifact schema {version} is newer than this handler's "
                                                    f"{schema.SCHEMA_VERSION}; deploy a newer handler")
    if version < schema.SCHEMA_VERSION:
        raise ArtifactUnavailable("schema_too_old", f"artifact schema {version} is older than this handler's "
                                                    f"{schema.SCHEMA_VERSION}; rebuild the artifact")
    missing = [k for k in schema.REQUIRED_BUILD_INFO if k not in info]
    if missing:
        raise ArtifactUnavailable("artifact_incomplete", f"build_info lacks {', '.join(missing)}")
    absent = [t for t in schema.TABLE_DDL if not _has_table(conn, t)]
    if absent:
        raise ArtifactUnavailable("artifact_incomplete", f"artifact lacks tables {', '.join(absent)}")


def _has_table(conn: duckdb.DuckDBPyConnection, table: str) -> bool:
    """Whether the catalog resolves `table`: binding an empty select asks it for that one name, a quarter of
    what listing duckdb_tables() costs on a cold start (it describes every table; ~8 ms at ML-25M)."""
    try:
        conn.execute(f"SELECT * FROM {table} LIMIT 0")
    except duckdb.CatalogException:
        return False
    return True


def _check_finite(conn: duckdb.DuckDBPyConnection) -> None:
    """Every number the API serves is finite (schema.FINITE_COLUMNS): JSON has no NaN or Infinity. A range test
    that DuckDB answers from its zone maps (schema.not_finite_sql), about 1 ms a table at ML-25M's size."""
    for table, columns in schema.FINITE_COLUMNS.items():
        for column in columns:
            row = conn.execute(f"SELECT count(*) FROM {table} WHERE {schema.not_finite_sql(column)}").fetchone()
            if row is not None and row[0]:
                raise ArtifactUnavailable("artifact_invalid", f"{table}.{column} holds {row[0]} values that are "
                                                              "not finite (NaN or infinite); rebuild the artifact")


def _etag(info: dict[str, str], sha256: str | None) -> str:
    """Derived from the build (and the response shape), so it changes exactly when answers can."""
    basis = json.dumps({"api": API_VERSION, "sha256": sha256, "build": info}, sort_keys=True)
    return '"' + hashlib.sha256(basis.encode()).hexdigest()[:24] + '"'


def _popular(conn: duckdb.DuckDBPyConnection) -> dict[str | None, list[tuple[int, float]]]:
    rows = conn.execute(f"SELECT genre, movie_id, score FROM {schema.POPULAR_MOVIES} "
                        "ORDER BY genre NULLS FIRST, rank").fetchall()
    lists: dict[str | None, list[tuple[int, float]]] = {}
    for genre, movie_id, score in rows:
        lists.setdefault(genre, []).append((movie_id, score))
    return lists


def _has_rows(conn: duckdb.DuckDBPyConnection, table: str) -> bool:
    row = conn.execute(f"SELECT EXISTS (SELECT 1 FROM {table})").fetchone()
    return bool(row and row[0])


def _genres(genre_lists: list[list[str]]) -> dict[str, str]:
    return {g.casefold(): g for genres in genre_lists for g in genres}


def open_artifact(path: str, settings: Settings, sha256: str | None = None, quick: bool = False) -> Artifact:
    """Verify (unless the caller already did, passing `sha256`) and open read-only.

    `path` is resolved once: the build publishes by pointing a symlink at a content-addressed
    file with its manifest beside it, so the file and the manifest read here are always one pair.
    The checksum is computed on a thread while DuckDB opens the file read-only; nothing is returned
    (no request answered) before it matches, and when it does not, its reason wins over whatever the open
    ran into (a corrupted file is `checksum_mismatch`). With `quick` and a manifest that carries a
    fingerprint, the fingerprint must match before anything is returned and the sha256 is left running in
    `full_check`, which the store looks at before every use (store.LazyArtifact).
    """
    path = os.path.realpath(path)
    if not os.path.isfile(path):
        raise ArtifactUnavailable("artifact_missing", f"artifact not found: {path}")
    checking = sha256 is None and settings.verify_checksum
    expected = _fingerprinted_digest(path) if checking and quick else None
    verification = _Verification(path, background=expected is not None) if checking else None
    try:
        art = _open_verified_later(path, settings, sha256 or expected)
    except ArtifactUnavailable:
        if verification is not None:
            verification.result()  # raises the checksum's reason first
        raise
    if verification is None:
        return art
    if expected is not None:
        return replace(art, full_check=verification)
    assert art.conn is not None  # just opened
    try:
        digest = verification.result()
    except ArtifactUnavailable:
        art.conn.close()
        raise
    return replace(art, sha256=digest, etag=_etag(art.build_info, digest))


def _fingerprinted_digest(path: str) -> str | None:
    """The manifest's sha256 when it carries a fingerprint and the file matches it; None when it carries
    none (the full check then runs before serving); checksum_mismatch when the file does not match it."""
    try:
        with open(schema.manifest_path(path), encoding="utf-8") as fh:
            text = fh.read(4096)
    except (OSError, UnicodeDecodeError):
        return None  # verify_local says what is wrong with it
    fingerprint = schema.manifest_fingerprint(text)
    if fingerprint is None:
        return None
    if not hmac.compare_digest(schema.fingerprint_file(path), fingerprint):
        raise ArtifactUnavailable("checksum_mismatch", "artifact does not match the fingerprint in its manifest "
                                                       "(truncated, extended or another build's file)")
    return manifest_digest(text)


def _open_verified_later(path: str, settings: Settings, sha256: str | None) -> Artifact:
    """DuckDB open, schema check and the in-memory maps; the caller owns the checksum."""
    try:
        conn = connect(path, settings)
    except duckdb.Error as exc:
        raise ArtifactUnavailable("artifact_unreadable", f"DuckDB cannot open the artifact: {exc}") from None
    try:
        info = _read_build_info(conn)
        _check_schema(conn, info)
        _check_finite(conn)
        genres = genre_spellings(conn)
        popular = _popular(conn)
        challenger = _has_rows(conn, schema.CHALLENGER_RECOMMENDATIONS)
    except ArtifactUnavailable:
        conn.close()
        raise
    except duckdb.Error as exc:
        conn.close()
        raise ArtifactUnavailable("artifact_unreadable", f"artifact cannot be read: {exc}") from None
    return Artifact(conn=conn, path=path, build_info=info, sha256=sha256, etag=_etag(info, sha256),
                    movies=LazyMovies(conn), popular=popular, genres=genres, challenger=challenger)
