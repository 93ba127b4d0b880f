"""Shared parameter bounds: n and limit in 1..100, ids positive 32-bit integers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

MAX_ID = 2**31 - 1  # ids are DuckDB INTEGERs; larger values can only be unknown

N = Annotated[int, Query(ge=1, le=100, description="how many results (1..100)")]
Limit = Annotated[int, Query(ge=1, le=100, description="how many results (1..100)")]
Genre = Annotated[str | None, Query(max_length=64, description="a MovieLens genre, e.g. Drama (case-insensitive)")]
UserId = Annotated[int, Path(ge=1, le=MAX_ID)]
MovieId = Annotated[int, Path(ge=1, le=MAX_ID)]
