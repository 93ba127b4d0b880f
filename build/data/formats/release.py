"""What a layout reader hands the loader: typed tables plus the facts needed to validate them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl


@dataclass(frozen=True)
class RawRelease:
    """Tables parsed and typed, not yet cross-checked (scale, duplicates, unknown movies)."""

    layout: str                         # "csv", "dat" or "100k"
    ratings: pl.DataFrame
    ratings_path: Path
    ratings_first_line: int             # line number of the first data row (2 with a header)
    movies: pl.DataFrame                # MOVIES_SCHEMA
    movies_path: Path
    tags: pl.DataFrame
    links: pl.DataFrame
    rating_scale: tuple[float, float]
    rating_step: float
    files_read: tuple[Path, ...]        # in the fixed order the digest uses
    genome_scores: pl.DataFrame | None = None
    genome_tags: pl.DataFrame | None = None
    users: pl.DataFrame | None = None
