"""Shared parameter bounds: n and limit in 1..100, ids positive 32-bit integers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from latentlens.handler.answers import MAX_ID, MAX_N  # the bounds' one owner (the Python API checks them too)

N = Annotated[int, Query(ge=1, le=MAX_N, description=f"how many results (1..{MAX_N})")]
Limit = Annotated[int, Query(ge=1, le=MAX_N, description=f"how many results (1..{MAX_N})")]
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
