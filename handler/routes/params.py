"""Shared parameter bounds: n and limit in 1..100, ids positive 32-bit integers, both written in ASCII digits."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from pydantic import BeforeValidator

from latentlens.handler.answers import MAX_ID, MAX_N  # the bounds' one owner (the Python API checks them too)
from latentlens.handler.limits import ID_PATTERN


def ascii_digits(text: str) -> bool:
    """Only 0-9: no sign, space, underscore or another script's digits (isdigit alone is true of '²', '５', '٥')."""
    return text.isascii() and text.isdigit()


def _plain_id(value: object) -> object:
    """A path id as `liked=` reads one: pydantic's lax int() would also take '+1', ' 1' and '1_0'."""
    if isinstance(value, str) and not ascii_digits(value):
        raise ValueError("must be a positive integer in ASCII digits (0-9), e.g. 858")  # pydantic's value_error
    return value


def _plain_count(value: object) -> object:
    """n and limit in ASCII digits as ids are: pydantic's lax int() would take '+5', ' 5', '1_0' and '1.0'."""
    if isinstance(value, str) and not ascii_digits(value):
        raise ValueError(f"must be a whole number from 1 to {MAX_N} in ASCII digits (0-9), e.g. 10")
    return value


N = Annotated[int, Query(ge=1, le=MAX_N, description=f"how many results (1..{MAX_N})"), BeforeValidator(_plain_count)]
Limit = Annotated[int, Query(ge=1, le=MAX_N, description=f"how many results (1..{MAX_N})"),
                  BeforeValidator(_plain_count)]
Genre = Annotated[str | None, Query(max_length=64, description="a MovieLens genre, e.g. Drama (case-insensitive)")]
# Path() first: FastAPI takes the bounds into the OpenAPI schema from it, the validator runs before int parsing.
UserId = Annotated[int, Path(ge=1, le=MAX_ID), BeforeValidator(_plain_id)]
MovieId = Annotated[int, Path(ge=1, le=MAX_ID), BeforeValidator(_plain_id)]
SessionId = Annotated[str, Path(pattern=ID_PATTERN, description="the random id the client keeps, 1-64 of A-Z a-z "
                                                                "0-9 _ - (as its events carry it)")]


def parse_id(text: str) -> int | None:
    """A positive id written in ASCII digits (leading zeros allowed, as the path parameters allow them),
    or None. The length is checked before int(): past 4,300 digits int() raises instead of parsing."""
    if not ascii_digits(text):
        return None
    digits = text.lstrip("0")
    if not digits or len(digits) > len(str(MAX_ID)):
        return None
    value = int(digits)
    return value if value <= MAX_ID else None
