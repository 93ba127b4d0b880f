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


def parse_id(text: str) -> int | None:
    """A positive id written in ASCII digits (leading zeros allowed, as the path parameters allow them),
    or None. The length is checked before int(): past 4,300 digits int() raises instead of parsing."""
    if not (text.isascii() and text.isdigit()):  # isdigit alone is also true of '²', '５', '٥'
        return None
    digits = text.lstrip("0")
    if not digits or len(digits) > len(str(MAX_ID)):
        return None
    value = int(digits)
    return value if value <= MAX_ID else None
