"""Typed settings of the Spark engine; everything else comes from BuildSettings unchanged."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SparkSettings:
    master: str = "local[2]"
    shuffle_partitions: int = 8          # local[2]: a few; a cluster: ~2-3 x its cores
    driver_memory: str = "4g"            # local mode runs the executors inside the driver JVM
    n_shards: int = 16                   # Parquet shards of user_recommendations, by hash of user id
    row_group_bytes: int = 1 << 20       # small row groups: a point lookup reads one
    # Assemble the DuckDB artifact when user_recommendations has at most this many rows
    # (ML-25M: 162,541 users x 100 = 16M rows, 300 MB); past it only the Parquet output is written.
    duckdb_max_rows: int = 50_000_000
    item_block: int = 2048               # items per block of the similar-movies self-join
    ui: bool = False
