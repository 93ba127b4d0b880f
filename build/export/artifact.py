"""Write the DuckDB artifact and publish it with its manifest as one pair.

The file is written to a temp file beside the target and verified, then moved to a
content-addressed name, `<out>.builds/<sha256>.duckdb`, with its manifest beside it; both are
immutable from then on. Publishing is ONE atomic step: `<out>` becomes a symlink to that file
(`os.replace` of a symlink). Readers (handler/artifact.py, infra/artifact.py) resolve `<out>` once
and read the manifest beside the resolved file, so they see the old pair or the new pair,
never a mix, whatever step a failure or a kill interrupts. `<out>.sha256` is then pointed at the
new manifest too (for `sha256sum -c`); a build killed between the two flips leaves it stale
until the next build repairs it, which no reader depends on. The current and the previous
build are kept; older ones are removed.

Two exports racing for the same target each write their own temp file and the last publish
wins whole. Tables come in as polars frames, go through Arrow in bulk, sorted by key so
DuckDB's zone maps keep point lookups cheap.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from latentlens.build.data.errors import DataError
from latentlens.build.processes import pid_alive
from latentlens.build.progress import get_logger
from latentlens.handler import schema

log = get_logger(__name__)


# Written in an older storage format on purpose: DuckDB CLIs and clients from v1.1 on open it,
# not only the exact library version that built it.
STORAGE_COMPATIBILITY = "v1.1.0"


STORE_SUFFIX = ".builds"  # `<out>.builds/<sha256>.duckdb`: the content-addressed builds `<out>` points at
KEEP_BUILDS = 2  # the current build and the previous one (a reader that resolved `<out>` just before a publish)
DUCKDB_MAGIC = b"DUCK"  # bytes 8..12 of every DuckDB database file

# Rough artifact size for the free-space check, from the measured builds (docs/performance.md):
# 6.7-10.7 bytes per list row at ML-25M, ~13 on the embedded data; plus the movie catalogue.
BYTES_PER_LIST_ROW = 12
BYTES_PER_MOVIE = 300
BYTES_FIXED = 4 << 20  # DuckDB's own overhead: a 4-movie artifact is 2.4 MB

_NO_ROOM = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


class ArtifactError(RuntimeError):
    """The artifact written does not meet its contract; the target was not replaced."""


class OutputError(DataError):
    """The output location cannot take the artifact (a user-fixable problem, exit 2); nothing was replaced."""


@dataclass(frozen=True)
class ArtifactTables:
    """Everything that goes into one artifact, as polars frames with the schema's columns."""

    movies: pl.DataFrame
    user_recommendations: pl.DataFrame
    similar_movies: pl.DataFrame
    popular_movies: pl.DataFrame
    model_metrics: pl.DataFrame
    build_info: dict[str, str]
    # the movies rated next after each movie (None: an engine that has no NEXT_MOVIES model writes it empty)
    next_movies: pl.DataFrame | None = None
    # an A/B challenger's lists (`build --challenger`), and the sessions trained as users (`build --events`)
    challenger_recommendations: pl.DataFrame | None = None
    session_users: pl.DataFrame | None = None

    def frames(self) -> dict[str, pl.DataFrame | None]:
        """Every table's rows; None for a table nothing produced, written empty so every reader finds it."""
        info = pl.DataFrame(
            {"key": list(self.build_info), "value": [str(v) for v in self.build_info.values()]},
            schema={"key": pl.Utf8, "value": pl.Utf8},
        )
        return {
            schema.MOVIES: self.movies,
            schema.USER_RECOMMENDATIONS: self.user_recommendations,
            schema.SIMILAR_MOVIES: self.similar_movies,
            schema.NEXT_MOVIES: self.next_movies,
            schema.CHALLENGER_RECOMMENDATIONS: self.challenger_recommendations,
            schema.SESSION_USERS: self.session_users,
            schema.POPULAR_MOVIES: self.popular_movies,
            schema.MODEL_METRICS: self.model_metrics,
            schema.BUILD_INFO: info,
        }


@dataclass(frozen=True)
class ArtifactReport:
    path: Path
    sha256: str
    size_bytes: int
    row_counts: dict[str, int]


def _column_names(ddl: str) -> list[str]:
    body = ddl[ddl.index("(") + 1 : ddl.rindex(")")]
    return [line.split()[0] for line in body.strip().splitlines() if line.strip()]


def _write_tables(con: duckdb.DuckDBPyConnection, tables: ArtifactTables) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name, frame in tables.frames().items():
        con.execute(schema.TABLE_DDL[name])
        if frame is None:
            counts[name] = 0
            continue
        columns = _column_names(schema.TABLE_DDL[name])
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise ArtifactError(f"table {name}: frame lacks columns {missing}")
        sort = schema.SORT_KEYS.get(name)
        ordered = frame.select(columns)
        if sort:
            ordered = ordered.sort(list(sort), nulls_last=False)
        con.register("incoming", ordered.to_arrow())
        con.execute(f"INSERT INTO {name} SELECT * FROM incoming")  # names come from the schema module
        con.unregister("incoming")
        counts[name] = len(frame)
    con.execute("CHECKPOINT")
    return counts


def _count(con: duckdb.DuckDBPyConnection, sql: str, params: list[object] | None = None) -> int:
    """The value of a `SELECT count(*) ...`: an aggregate without GROUP BY always returns one row."""
    row = con.execute(sql, params).fetchone()
    assert row is not None
    return row[0]


def verify_artifact(path: Path, expected_counts: dict[str, int] | None = None) -> dict[str, int]:
    """Reopen read-only and check the contract: schema version, counts, keys, finite numbers, contiguous ranks."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        version = con.execute(
            f"SELECT value FROM {schema.BUILD_INFO} WHERE key = 'schema_version'"
        ).fetchone()
        if version is None or int(version[0]) != schema.SCHEMA_VERSION:
            raise ArtifactError(f"{path}: schema_version {version} != {schema.SCHEMA_VERSION}")
        keys = {r[0] for r in con.execute(f"SELECT key FROM {schema.BUILD_INFO}").fetchall()}
        if missing := set(schema.REQUIRED_BUILD_INFO) - keys:
            raise ArtifactError(f"{path}: build_info lacks {sorted(missing)}")
        counts = {}
        for table, columns in schema.PUBLIC_COLUMNS.items():
            present = [r[0] for r in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table]
            ).fetchall()]
            if lost := [c for c in columns if c not in present]:
                raise ArtifactError(f"{path}: table {table} lacks columns {lost}")
            counts[table] = _count(con, f"SELECT count(*) FROM {table}")
        if expected_counts:
            for table, n in expected_counts.items():
                if counts.get(table) != n:
                    raise ArtifactError(f"{path}: {table} has {counts.get(table)} rows, wrote {n}")
        _check_values(con, path)
        for table, key in schema.RANKED_LISTS.items():
            group = ", ".join(key)
            broken = _count(
                con,
                f"SELECT count(*) FROM (SELECT {group}, min(rank) AS lo, max(rank) AS hi, "
                f"count(*) AS n, count(DISTINCT rank) AS d FROM {table} GROUP BY {group}) "
                "WHERE lo <> 1 OR hi <> n OR d <> n",
            )
            if broken:
                raise ArtifactError(f"{path}: {table} has {broken} lists whose ranks are not 1..n")
        self_similar = _count(con, f"SELECT count(*) FROM {schema.SIMILAR_MOVIES} WHERE movie_id = similar_movie_id")
        if self_similar:
            raise ArtifactError(f"{path}: {self_similar} movies list themselves as similar")
        _check_next_movies(con, path)
        return counts
    finally:
        con.close()


def _check_next_movies(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """next_movies: never the movie itself (ranks, NULLs and finite scores are checked with every list)."""
    self_next = _count(con, f"SELECT count(*) FROM {schema.NEXT_MOVIES} WHERE movie_id = next_movie_id")
    if self_next:
        raise ArtifactError(f"{path}: {self_next} movies list themselves as rated next")


_NOT_NULL = {
    schema.MOVIES: ["movie_id", "title"],
    schema.USER_RECOMMENDATIONS: ["user_id", "rank", "movie_id", "score"],
    schema.SIMILAR_MOVIES: ["movie_id", "rank", "similar_movie_id", "score"],
    schema.NEXT_MOVIES: ["movie_id", "rank", "next_movie_id", "score"],
    schema.POPULAR_MOVIES: ["rank", "movie_id", "score"],
}


def _check_values(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """No NULL keys or scores; every number the API serves finite (schema.FINITE_COLUMNS, and the ratings of
    `because`): JSON cannot carry NaN or infinity, so such an artifact is never published; no empty display title."""
    for table, cols in _NOT_NULL.items():
        cond = " OR ".join(f"{c} IS NULL" for c in cols)
        bad = _count(con, f"SELECT count(*) FROM {table} WHERE {cond}")
        if bad:
            raise ArtifactError(f"{path}: {table} has {bad} rows with NULL keys")
    for table, columns in schema.FINITE_COLUMNS.items():
        for column in columns:  # isfinite(), the plain full scan: the build can afford it
            bad = _count(con, f"SELECT count(*) FROM {table} WHERE NOT isfinite({column})")
            if bad:
                raise ArtifactError(f"{path}: {table}.{column} has {bad} values that are not finite (NaN or "
                                    "infinite): JSON cannot carry them")
    bad = _count(con, f"SELECT count(*) FROM {schema.USER_RECOMMENDATIONS} "
                      "WHERE list_bool_or(list_transform(because, lambda b: NOT isfinite(b.rating)))")
    if bad:
        raise ArtifactError(f"{path}: user_recommendations has {bad} rows whose because ratings are not finite")
    bad = _count(con, f"SELECT count(*) FROM {schema.MOVIES} WHERE trim(display_title) = ''")
    if bad:  # the page's link text: an empty one is a link nobody can see
        raise ArtifactError(f"{path}: movies has {bad} empty display titles")


def remove_stale_temp_files(out: Path) -> list[Path]:
    """Temp files of builds that were killed (SIGKILL cannot clean up) and whose process is gone."""
    pattern = re.compile(re.escape(f".{out.name}.tmp-") + r"(\d+)")
    removed = []
    for path in out.parent.glob(f".{out.name}.tmp-*"):
        match = pattern.match(path.name)
        if match and int(match.group(1)) != os.getpid() and not pid_alive(int(match.group(1))):
            path.unlink(missing_ok=True)
            removed.append(path)
    if removed:
        log.info("removed %d temp file(s) left by killed builds", len(removed))
    return removed


def store_dir(out: Path) -> Path:
    return out.with_name(out.name + STORE_SUFFIX)


def estimate_artifact_bytes(n_users: int, n_movies: int, top_n: int, similar_n: int) -> int:
    """A generous guess at the artifact's size, for the free-space check before training."""
    rows = n_users * top_n + n_movies * (similar_n + 1)
    return rows * BYTES_PER_LIST_ROW + n_movies * BYTES_PER_MOVIE + BYTES_FIXED


def _points_into_store(link: Path, out: Path | None = None) -> bool:
    """`link` is a symlink into the builds store of `out` (`out` itself when not given)."""
    try:
        target = os.readlink(link)
    except OSError:
        return False
    return Path(target).parent.name == store_dir(out or link).name


def is_latentlens_artifact(path: Path) -> bool:
    """A file a build wrote: a symlink into its builds store, or a DuckDB file with a build_info table."""
    if _points_into_store(path):
        return True
    try:
        if not path.is_file():  # never open a FIFO or a device: it could block or have side effects
            return False
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError:
        return False
    if head[8:12] != DUCKDB_MAGIC:
        return False
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error:
        # Open elsewhere in this process with another configuration, say: a well-formed manifest
        # naming it still marks it as ours.
        return _looks_like_manifest(Path(schema.manifest_path(str(path))), path.name)
    try:
        return _count(con, "SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [schema.BUILD_INFO]) == 1
    except duckdb.Error:
        return False
    finally:
        con.close()


def _looks_like_manifest(path: Path, name: str | None = None) -> bool:
    try:
        if not path.is_file() or path.stat().st_size > 4096:
            return False
        parsed = schema.parse_manifest(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return False
    return parsed is not None and (name is None or parsed[1] == name)


def _existing_ancestor(directory: Path) -> Path:
    for candidate in (directory, *directory.parents):
        if candidate.exists() or candidate.is_symlink():
            return candidate
    return Path("/")


def check_output(out: Path, *, force: bool = False, needed_bytes: int = 0) -> None:
    """Can `out` take a new artifact? Before any training, so a bad --out costs seconds, not minutes.

    Refuses a directory, a location that cannot be written, too little free space for
    `needed_bytes`, and (unless `force`) replacing a file that is not a LatentLens artifact
    or a manifest path holding something else.
    """
    out = Path(out)
    if out.is_dir():
        raise OutputError(out, "is a directory; --out names the artifact file, e.g. "
                               f"{out / 'latentlens.duckdb'}")
    where = _existing_ancestor(out.parent)
    if not where.is_dir():
        raise OutputError(where, f"is not a directory, so {out.name} cannot be written under it")
    try:
        fd, probe = tempfile.mkstemp(dir=where, prefix=f".{out.name}.probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(where, f"cannot write the artifact here: {exc.strerror or exc}") from None
    if not force:
        if (out.exists() or out.is_symlink()) and not is_latentlens_artifact(out):
            raise OutputError(out, "exists and is not a LatentLens artifact; refusing to replace it "
                                   "(choose another --out, or pass --force to replace it)")
        manifest = Path(schema.manifest_path(str(out)))
        if (manifest.exists() or manifest.is_symlink()) and not _points_into_store(manifest, out) \
                and not _looks_like_manifest(manifest):
            raise OutputError(manifest, "exists and is not a sha256 manifest; refusing to replace it "
                                        "(choose another --out, or pass --force to replace it)")
    if needed_bytes:
        free = shutil.disk_usage(where).free
        if free < needed_bytes:
            raise OutputError(where, f"{free / 1e6:.1f} MB free, the artifact needs about "
                                     f"{needed_bytes / 1e6:.1f} MB; free some space or choose another --out")


def _no_room(exc: BaseException) -> bool:
    if isinstance(exc, OSError):
        return exc.errno in _NO_ROOM
    text = str(exc).lower()
    return isinstance(exc, duckdb.Error) and ("no space left" in text or "disk quota" in text
                                              or "file too large" in text)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_manifest(path: Path, digest: str, name: str, fingerprint: str) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(schema.manifest_text(digest, name, fingerprint))
        fh.flush()
        os.fsync(fh.fileno())


def _point(link: Path, target: str, staging: Path) -> None:
    """Atomically make `link` a symlink to `target` (relative): build it at `staging`, rename it over."""
    staging.unlink(missing_ok=True)
    os.symlink(target, staging)
    os.replace(staging, link)


def _repair_manifest_link(out: Path) -> None:
    """`<out>.sha256` points at the manifest of what `<out>` points at (a kill between the flips)."""
    if not _points_into_store(out):
        return
    wanted = os.readlink(out) + schema.MANIFEST_SUFFIX
    manifest = Path(schema.manifest_path(str(out)))
    try:
        current = os.readlink(manifest)
    except OSError:
        current = None
    if current != wanted and (out.parent / wanted).is_file():
        _point(manifest, wanted, out.with_name(f".{out.name}.tmp-{os.getpid()}.link"))
        log.info("repaired %s (it still named the build before the last one)", manifest.name)


def _prune(store: Path, keep: set[str]) -> None:
    """Remove builds other than `keep` (file names in the store) and their manifests."""
    for path in store.glob("*.duckdb"):
        if path.name not in keep:
            path.unlink(missing_ok=True)
            Path(schema.manifest_path(str(path))).unlink(missing_ok=True)


def _publish(out: Path, tmp: Path, digest: str) -> Path:
    """Move the verified temp file into the store and point `out` at it: the one publishing step."""
    store = store_dir(out)
    store.mkdir(exist_ok=True)
    name = f"{digest}.duckdb"
    final = store / name
    relative = f"{store.name}/{name}"
    # One lock (the directory itself, so no lock file is left behind) across the whole publish:
    # concurrent builds cannot interleave their flips or prune each other's build.
    dir_fd = os.open(out.parent, os.O_RDONLY)
    try:
        fcntl.flock(dir_fd, fcntl.LOCK_EX)
        previous = os.readlink(out) if _points_into_store(out) else None
        staged_manifest = Path(schema.manifest_path(str(tmp)))
        _write_manifest(staged_manifest, digest, out.name, schema.fingerprint_file(tmp))
        os.replace(tmp, final)
        os.replace(staged_manifest, Path(schema.manifest_path(str(final))))
        _fsync_dir(store)
        staging = tmp.with_name(tmp.name + ".link")
        _point(out, relative, staging)  # published: from here on readers get the new pair
        try:  # housekeeping: a failure here must not fail a build that is already published
            _point(Path(schema.manifest_path(str(out))), relative + schema.MANIFEST_SUFFIX, staging)
            _fsync_dir(out.parent)
            _prune(store, {name} | ({Path(previous).name} if previous else set()))
        except OSError as exc:
            log.warning("artifact published, but tidying up after it failed (the next build retries): %s", exc)
    finally:
        try:
            os.close(dir_fd)  # closing releases the lock
        except OSError:
            pass  # the descriptor (and the lock) is gone either way; after a publish this is no failure
    return final


def write_artifact(out: Path, tables: ArtifactTables, *, force: bool = False) -> ArtifactReport:
    """Write, verify and publish the artifact and its sha256 manifest at `out` (see the module doc).

    OutputError (exit 2) when the location cannot take it or the disk fills; the previous
    pair is then still what `out` serves.
    """
    out = Path(out)
    check_output(out, force=force)
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_files(out)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    for stale in (tmp, tmp.with_name(tmp.name + ".wal"), Path(schema.manifest_path(str(tmp)))):
        stale.unlink(missing_ok=True)
    try:
        _repair_manifest_link(out)
        con = duckdb.connect(str(tmp), config={"storage_compatibility_version": STORAGE_COMPATIBILITY})
        try:
            counts = _write_tables(con, tables)
        finally:
            con.close()
        verify_artifact(tmp, counts)
        digest = schema.sha256_file(tmp)
        with open(tmp, "rb") as fh:  # make the bytes durable before the rename publishes them
            os.fsync(fh.fileno())
        final = _publish(out, tmp, digest)
    except BaseException as exc:
        for leftover in (tmp, tmp.with_name(tmp.name + ".wal"), Path(schema.manifest_path(str(tmp))),
                         tmp.with_name(tmp.name + ".link")):
            leftover.unlink(missing_ok=True)
        if _no_room(exc):
            raise OutputError(out.parent, "no space left while writing the artifact; the previous "
                                          "artifact is unchanged; free some space and rebuild") from None
        raise
    size = final.stat().st_size
    log.info("artifact %s written: %.1f MB, sha256 %s", out, size / 1e6, digest[:12])
    return ArtifactReport(out, digest, size, counts)
