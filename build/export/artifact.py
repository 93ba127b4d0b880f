"""Write the DuckDB artifact atomically: temp file beside the target, verify, then rename.

A failed or interrupted export leaves the previous artifact (and its manifest) untouched;
two exports racing for the same target each write their own temp file and the last rename
wins whole. Tables come in as polars frames, go through Arrow in bulk, sorted by key so
DuckDB's zone maps keep point lookups cheap.
"""

from __future__ import annotations

import fcntl
import os
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from latentlens.build.progress import get_logger
from latentlens.handler import schema

log = get_logger(__name__)


# Written in an older storage format on purpose: DuckDB CLIs and clients from v1.1 on open it,
# not only the exact library version that built it.
STORAGE_COMPATIBILITY = "v1.1.0"


class ArtifactError(RuntimeError):
    """The artifact written does not meet its contract; the target was not replaced."""


@dataclass(frozen=True)
class ArtifactTables:
    """Everything that goes into one artifact, as polars frames with the schema's columns."""

    movies: pl.DataFrame
    user_recommendations: pl.DataFrame
    similar_movies: pl.DataFrame
    popular_movies: pl.DataFrame
    model_metrics: pl.DataFrame
    build_info: dict[str, str]

    def frames(self) -> dict[str, pl.DataFrame]:
        info = pl.DataFrame(
            {"key": list(self.build_info), "value": [str(v) for v in self.build_info.values()]},
            schema={"key": pl.Utf8, "value": pl.Utf8},
        )
        return {
            schema.MOVIES: self.movies,
            schema.USER_RECOMMENDATIONS: self.user_recommendations,
            schema.SIMILAR_MOVIES: self.similar_movies,
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


def verify_artifact(path: Path, expected_counts: dict[str, int] | None = None) -> dict[str, int]:
    """Reopen read-only and check the contract: schema version, counts, keys, contiguous ranks."""
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
            counts[table] = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        if expected_counts:
            for table, n in expected_counts.items():
                if counts.get(table) != n:
                    raise ArtifactError(f"{path}: {table} has {counts.get(table)} rows, wrote {n}")
        null_checks = {
            schema.MOVIES: ["movie_id", "title"],
            schema.USER_RECOMMENDATIONS: ["user_id", "rank", "movie_id", "score"],
            schema.SIMILAR_MOVIES: ["movie_id", "rank", "similar_movie_id", "score"],
            schema.POPULAR_MOVIES: ["rank", "movie_id", "score"],
        }
        for table, cols in null_checks.items():
            cond = " OR ".join(f"{c} IS NULL" for c in cols)
            bad = con.execute(f"SELECT count(*) FROM {table} WHERE {cond}").fetchone()[0]
            if bad:
                raise ArtifactError(f"{path}: {table} has {bad} rows with NULL keys")
        for table, key in schema.RANKED_LISTS.items():
            group = ", ".join(key)
            broken = con.execute(
                f"SELECT count(*) FROM (SELECT {group}, min(rank) AS lo, max(rank) AS hi, "
                f"count(*) AS n, count(DISTINCT rank) AS d FROM {table} GROUP BY {group}) "
                "WHERE lo <> 1 OR hi <> n OR d <> n"
            ).fetchone()[0]
            if broken:
                raise ArtifactError(f"{path}: {table} has {broken} lists whose ranks are not 1..n")
        self_similar = con.execute(
            f"SELECT count(*) FROM {schema.SIMILAR_MOVIES} WHERE movie_id = similar_movie_id"
        ).fetchone()[0]
        if self_similar:
            raise ArtifactError(f"{path}: {self_similar} movies list themselves as similar")
        return counts
    finally:
        con.close()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temp_files(out: Path) -> list[Path]:
    """Temp files of builds that were killed (SIGKILL cannot clean up) and whose process is gone."""
    pattern = re.compile(re.escape(f".{out.name}.tmp-") + r"(\d+)")
    removed = []
    for path in out.parent.glob(f".{out.name}.tmp-*"):
        match = pattern.match(path.name)
        if match and int(match.group(1)) != os.getpid() and not _pid_alive(int(match.group(1))):
            path.unlink(missing_ok=True)
            removed.append(path)
    if removed:
        log.info("removed %d temp file(s) left by killed builds", len(removed))
    return removed


def write_artifact(out: Path, tables: ArtifactTables) -> ArtifactReport:
    """Write, verify and atomically install the artifact and its sha256 manifest at `out`."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_files(out)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    tmp_manifest = Path(schema.manifest_path(str(tmp)))
    for stale in (tmp, tmp_manifest, tmp.with_name(tmp.name + ".wal")):
        stale.unlink(missing_ok=True)
    try:
        con = duckdb.connect(str(tmp), config={"storage_compatibility_version": STORAGE_COMPATIBILITY})
        try:
            counts = _write_tables(con, tables)
        finally:
            con.close()
        verify_artifact(tmp, counts)
        digest = schema.sha256_file(tmp)
        tmp_manifest.write_text(schema.manifest_text(digest, out.name))
        with open(tmp, "rb") as fh:  # make the bytes durable before the rename publishes them
            os.fsync(fh.fileno())
        # One lock across both renames: concurrent builds cannot pair one's artifact with the
        # other's manifest (the last to take the lock wins whole).
        # The lock is the directory itself, so no lock file is left behind.
        dir_fd = os.open(out.parent, os.O_RDONLY)
        try:
            fcntl.flock(dir_fd, fcntl.LOCK_EX)
            os.replace(tmp, out)
            os.replace(tmp_manifest, schema.manifest_path(str(out)))
        finally:
            os.close(dir_fd)  # closing releases the lock
    except BaseException:
        for leftover in (tmp, tmp_manifest, tmp.with_name(tmp.name + ".wal")):
            leftover.unlink(missing_ok=True)
        raise
    size = out.stat().st_size
    log.info("artifact %s written: %.1f MB, sha256 %s", out, size / 1e6, digest[:12])
    return ArtifactReport(out, digest, size, counts)
