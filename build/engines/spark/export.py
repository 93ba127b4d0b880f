"""The Spark build's output: Parquet tables, a manifest written last, and (when it fits) the DuckDB file.

Layout of `<out>.parquet/` (a symlink to the directory of the build that wrote it, swapped
atomically, so readers see the previous output or the new one, never half of one):

    user_recommendations/shard=<s>/part-*.parquet   s = pmod(xxhash64(user_id), n_shards)
    similar_movies/ popular_movies/ movies/ model_metrics/ build_info/   *.parquet
    manifest.json   counts per table and shard, sha256 and rows of every file, MLflow run id

Rows are sorted by the table's key (handler/schema.py SORT_KEYS) in small row groups, so a
lookup by user reads one shard and one row group. The DuckDB artifact is assembled from these
files by the in-process export (build/export/artifact.py), so the handler and SQL users see
the same file whichever engine built it. The Spark engine has no next-movies model (the NEXT_MOVIES role):
its artifact's next_movies table is empty and its because reasons are all "similar".
"""

from __future__ import annotations

import json
import os
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from latentlens.build.export.artifact import ArtifactReport, ArtifactTables, write_artifact
from latentlens.build.progress import get_logger
from latentlens.handler import schema

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

log = get_logger(__name__)

MANIFEST = "manifest.json"
SHARD_HASH = "pmod(xxhash64(user_id), n_shards)"  # Spark's xxhash64, seed 42: stable across versions
SPARK_TABLES = (schema.USER_RECOMMENDATIONS, schema.SIMILAR_MOVIES)
DRIVER_TABLES = (schema.MOVIES, schema.POPULAR_MOVIES, schema.MODEL_METRICS, schema.BUILD_INFO)


def parquet_target(out: Path) -> Path:
    """Where the Parquet output of a build writing the DuckDB file `out` goes."""
    return Path(out).with_suffix(".parquet")


def shard_of(user_id: Column | str, n_shards: int) -> Column:
    """The shard column expression (one definition for the writer and any reader)."""
    from pyspark.sql import functions as F

    return F.pmod(F.xxhash64(F.col(user_id) if isinstance(user_id, str) else user_id), F.lit(n_shards)).cast("int")


def write_parquet(target: Path, spark_tables: dict[str, DataFrame], driver_tables: dict[str, pl.DataFrame],
                  n_shards: int, row_group_bytes: int, run_id: str) -> dict:
    """Write every table to a temp directory, the manifest last, then publish it at `target`."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(target)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        recs = spark_tables[schema.USER_RECOMMENDATIONS]
        sort = list(schema.SORT_KEYS[schema.USER_RECOMMENDATIONS])
        (recs.withColumn("shard", shard_of("user_id", n_shards)).repartition(n_shards, "shard")
         .sortWithinPartitions("shard", *sort)
         .write.partitionBy("shard").option("parquet.block.size", row_group_bytes)
         .parquet(str(tmp / schema.USER_RECOMMENDATIONS)))
        similar = spark_tables[schema.SIMILAR_MOVIES]
        (similar.orderBy(*schema.SORT_KEYS[schema.SIMILAR_MOVIES]).write
         .option("parquet.block.size", row_group_bytes).parquet(str(tmp / schema.SIMILAR_MOVIES)))
        for name, frame in driver_tables.items():
            (tmp / name).mkdir(parents=True)
            sort_keys = list(schema.SORT_KEYS.get(name, ()))
            ordered = frame.sort(sort_keys, nulls_last=False) if sort_keys else frame
            ordered.write_parquet(tmp / name / "part-00000.parquet", row_group_size=100_000)
        for junk in [*tmp.rglob("*.crc"), *tmp.rglob("_SUCCESS")]:
            junk.unlink()
        manifest = build_manifest(tmp, n_shards, run_id)
        staged = tmp / (MANIFEST + ".tmp")
        staged.write_text(json.dumps(manifest, indent=2, sort_keys=True))
        os.replace(staged, tmp / MANIFEST)  # written last: a directory with a manifest is complete
        _publish(tmp, target, run_id)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("spark: Parquet output %s: %s", target, ", ".join(f"{k} {v}" for k, v in manifest["rows"].items()))
    return manifest


def build_manifest(root: Path, n_shards: int, run_id: str) -> dict:
    """Counts, per-file rows and sha256, the shard rule and the MLflow run of the files under `root`."""
    import pyarrow.parquet as pq

    files: list[dict] = []
    rows: dict[str, int] = {}    # table -> rows
    shards: dict[str, int] = {}  # shard number -> rows of user_recommendations
    for path in sorted(root.rglob("*.parquet")):
        rel = path.relative_to(root).as_posix()
        table = rel.split("/", 1)[0]
        n = pq.read_metadata(path).num_rows
        files.append({"path": rel, "rows": n, "bytes": path.stat().st_size, "sha256": schema.sha256_file(path)})
        rows[table] = rows.get(table, 0) + n
        if match := re.search(r"/shard=(\d+)/", rel):
            shards[match.group(1)] = shards.get(match.group(1), 0) + n
    return {"schema_version": schema.SCHEMA_VERSION, "mlflow_run_id": run_id, "n_shards": n_shards,
            "shard_hash": SHARD_HASH, "rows": rows, "shard_rows": shards, "files": files,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds")}


def _publish(tmp: Path, target: Path, run_id: str) -> None:
    """Rename into a versioned directory, then swap the `target` symlink to it in one rename."""
    version = target.with_name(f".{target.name}.{run_id}")
    shutil.rmtree(version, ignore_errors=True)
    os.replace(tmp, version)
    link = target.with_name(f".{target.name}.link-{os.getpid()}")
    link.unlink(missing_ok=True)
    link.symlink_to(version.name)
    if target.exists() and not target.is_symlink():  # a directory someone put there: set it aside
        os.replace(target, target.with_name(f".{target.name}.old-{os.getpid()}"))
    os.replace(link, target)
    for stale in target.parent.glob(f".{target.name}.*"):  # earlier versions, a set-aside directory
        if stale.name == version.name or ".tmp-" in stale.name or stale.is_symlink() or not stale.is_dir():
            continue
        shutil.rmtree(stale, ignore_errors=True)


def _remove_stale(target: Path) -> None:
    """Temp directories of killed builds (their pid gone), like build/export/artifact.py's temp files."""
    from latentlens.build.processes import pid_alive

    for path in target.parent.glob(f".{target.name}.tmp-*"):
        match = re.search(r"\.tmp-(\d+)$", path.name)
        if match and int(match.group(1)) != os.getpid() and not pid_alive(int(match.group(1))):
            shutil.rmtree(path, ignore_errors=True)


def read_table(root: Path, name: str) -> pl.DataFrame:
    """One table of a Parquet output as polars (the hive `shard` column left out)."""
    frame = pl.read_parquet(str(Path(root) / name / "**" / "*.parquet"), hive_partitioning=False)
    return frame


def assemble_duckdb(root: Path, out: Path, force: bool = False) -> ArtifactReport:
    """The usual DuckDB artifact from a published Parquet output, via the in-process writer (`force`: --force,
    replacing a file at `out` that is not a LatentLens artifact, as the build checked before reading the data)."""
    frames = {name: read_table(root, name) for name in (*SPARK_TABLES, *DRIVER_TABLES)}
    info = frames[schema.BUILD_INFO]
    recommendations = frames[schema.USER_RECOMMENDATIONS]
    tables = ArtifactTables(
        movies=frames[schema.MOVIES],
        user_recommendations=recommendations,
        similar_movies=frames[schema.SIMILAR_MOVIES],
        popular_movies=frames[schema.POPULAR_MOVIES],
        model_metrics=frames[schema.MODEL_METRICS],
        build_info=dict(zip(info["key"].to_list(), info["value"].to_list(), strict=True)),
    )
    return write_artifact(out, tables, force=force)
