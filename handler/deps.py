"""Route dependencies as typed aliases, and the one place a query meets its failure modes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Request

from latentlens.handler.artifact import Artifact, ArtifactUnavailable
from latentlens.handler.errors import ApiError
from latentlens.handler.public import public_message
from latentlens.handler.queries import RowSource
from latentlens.handler.store import QueryFailed, Store, guarded_call

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
    """Run one answer function (store.guarded_call); a DuckDB failure or an unavailable store is a 503,
    never a crash."""
    try:
        return guarded_call(store, art, fn, *args)
    except QueryFailed:
        raise ApiError(503, "artifact_unreadable", "the artifact failed a query; it will be reopened") from None
    except ArtifactUnavailable as exc:
        raise unavailable(exc) from None
