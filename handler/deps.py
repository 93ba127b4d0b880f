"""Route dependencies as typed aliases, and the one place a query meets its failure modes."""

from __future__ import annotations

from typing import Annotated, Callable, TypeVar

import duckdb
from fastapi import Depends, Request

from latentlens.handler.artifact import Artifact, ArtifactUnavailable
from latentlens.handler.errors import ApiError
from latentlens.handler.public import public_message
from latentlens.handler.queries import RowSource
from latentlens.handler.store import Store

T = TypeVar("T")


async def get_store(request: Request) -> Store:  # async: no thread hop just to read app state
    return request.app.state.store


StoreDep = Annotated[Store, Depends(get_store)]


def unavailable(exc: ArtifactUnavailable) -> ApiError:
    return ApiError(503, exc.reason, public_message(exc.reason))  # the details are in Store's log line


def open_cursor(store: Store) -> tuple[Artifact, RowSource]:
    """The artifact and this thread's keyed reads on it, or a 503 saying why the artifact cannot be served."""
    try:
        return store.rows()
    except ArtifactUnavailable as exc:
        raise unavailable(exc) from None


def guarded(store: Store, art: Artifact, fn: Callable[..., T], *args) -> T:
    """Run one query function; a DuckDB failure drops the artifact (reopened next time) and is a 503, never a crash.
    A store that failed after its own bounded retries (DynamoDB) raises ArtifactUnavailable: a 503 too."""
    try:
        return fn(*args)
    except duckdb.Error as exc:
        store.invalidate(art, exc)
        raise ApiError(503, "artifact_unreadable", "the artifact failed a query; it will be reopened") from None
    except ArtifactUnavailable as exc:
        if exc.reason == "table_missing":  # the published table is gone: re-read the pointer next time
            store.invalidate(art, exc)
        raise unavailable(exc) from None


def resolve_genre(art: Artifact, genre: str | None) -> str | None:
    """Case-insensitive genre name -> the artifact's spelling; an unknown genre is a 422, not an empty list."""
    if genre is None or genre == "":
        return None
    canonical = art.genres.get(genre.casefold())
    if canonical is None:
        known = ", ".join(sorted(art.genres.values()))
        raise ApiError(422, "unknown_genre", f"unknown genre {genre!r}; known: {known}")
    return canonical
