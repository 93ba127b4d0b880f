"""What a publish reads: a verified artifact file, or a directory of Parquet shards, as one DuckDB connection.

Either way the tables carry the artifact's names (latentlens.handler.schema), so the publisher's SQL and
latentlens.handler.queries' row reads run unchanged on both.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import duckdb

from latentlens.handler import schema
from latentlens.handler.artifact import (
    Artifact,
    ArtifactUnavailable,
    _etag,
    _popular,
    _read_build_info,
    open_artifact,
)
from latentlens.handler.movie_map import LazyMovies, genre_spellings
from latentlens.handler.settings import Settings


class SourceError(Exception):
    """The source cannot be published (missing, unverified, incomplete): a one-line message, exit 2."""


@dataclass(frozen=True)
class Source:
    artifact: Artifact  # its conn answers SQL over the artifact's tables
    label: str


def _parquet_files(root: Path, table: str) -> list[Path]:
    """`<root>/<table>/**/*.parquet` (one directory of shards per table) or `<root>/<table>.parquet`."""
    single = root / f"{table}.parquet"
    shards = sorted((root / table).rglob("*.parquet")) if (root / table).is_dir() else []
    return shards or ([single] if single.is_file() else [])


def _shards_digest(files: list[Path], root: Path) -> str:
    """The identity of a shard set (the ETag's basis): sha256 over each file's relative path and sha256."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(f"{path.relative_to(root)}\0{schema.sha256_file(path)}\n".encode())
    return digest.hexdigest()


def _open_shards(root: Path) -> Source:
    conn = duckdb.connect()
    files: list[Path] = []
    needed = [schema.MOVIES, schema.USER_RECOMMENDATIONS, schema.SIMILAR_MOVIES, schema.POPULAR_MOVIES,
              schema.BUILD_INFO]
    for table in needed:
        found = _parquet_files(root, table)
        if not found:
            raise SourceError(f"{root}: no Parquet files for table {table} ({table}/*.parquet or {table}.parquet)")
        files += found
        conn.read_parquet([str(p) for p in found]).create_view(table)  # no path pasted into SQL
    for table in (schema.NEXT_MOVIES, schema.CHALLENGER_RECOMMENDATIONS, schema.SESSION_USERS):  # optional: an engine
        # without a next-movies model, a challenger or events writes none
        found = _parquet_files(root, table)
        if found:
            files += found
            conn.read_parquet([str(p) for p in found]).create_view(table)
        else:
            conn.execute(schema.TABLE_DDL[table])  # empty, so every reader sees the schema's table
    try:
        info = _read_build_info(conn)
        movies, popular, genres = LazyMovies(conn).load_all(), _popular(conn), genre_spellings(conn)
    except duckdb.Error as exc:
        raise SourceError(f"{root}: cannot read the shards: {exc}") from None
    sha256 = _shards_digest(files, root)
    art = Artifact(conn=conn, path=str(root), build_info=info, sha256=sha256, etag=_etag(info, sha256),
                   movies=movies, popular=popular, genres=genres)
    return Source(art, f"{root} ({len(files)} Parquet files)")


def open_source(path: Path, tmp_dir: Path) -> Source:
    """The artifact file (checked against its sha256 manifest, as the handler would) or a shard directory."""
    if path.is_dir():
        return _open_shards(path)
    try:
        art = open_artifact(str(path), Settings(db=str(path), tmp_dir=str(tmp_dir)))
    except ArtifactUnavailable as exc:
        raise SourceError(f"{path}: {exc.message}") from None
    return Source(art, str(path))
