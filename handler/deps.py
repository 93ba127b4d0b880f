"""Route dependencies as typed aliases, and the one place a query meets its failure modes."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from starlette.responses import Response

from latentlens.handler.artifact import Artifact, ArtifactUnavailable
from latentlens.handler.caching import cached_json, private_json
from latentlens.handler.errors import ApiError
from latentlens.handler.public import public_message
from latentlens.handler.queries import RowSource
from latentlens.handler.store import QueryFailed, Store, guarded_call

T = TypeVar("T")
logger = logging.getLogger("latentlens.handler")


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


def guarded(store: Store, art: Artifact, fn: Callable[..., T], *args, **kwargs) -> T:
    """Run one answer function (store.guarded_call); a DuckDB failure or an unavailable store is a 503,
    never a crash."""
    try:
        return guarded_call(store, art, fn, *args, **kwargs)
    except QueryFailed:
        raise ApiError(503, "artifact_unreadable", "the artifact failed a query; it will be reopened") from None
    except ArtifactUnavailable as exc:
        raise unavailable(exc) from None


def answered(request: Request, store: Store, fn: Callable[..., dict], *args, **kwargs) -> Response:
    """A lookup route's whole body: the answer function (latentlens.handler.answers) over the artifact and
    this thread's reads, guarded, as a cacheable JSON 200 (or a 304 for a client holding this build's ETag)."""
    art, src = open_cursor(store)
    body = guarded(store, art, fn, art, src, *args, **kwargs)
    return _encoded(request, art, lambda: cached_json(request, body, art.etag, store.settings.cache_max_age))


def answered_for_person(request: Request, store: Store, fn: Callable[..., dict], *args, **kwargs) -> Response:
    """`answered` for a person's list (a user's, a session's). While an event store is configured their events
    can change it from one request to the next, so it is `Cache-Control: private, no-store` with no ETag: no
    cache, shared or the client's, serves a list from before their latest rating. Without one it is cached as
    every answer is, under the build's ETag, and the experiment's settings when one runs (a new split moves
    people between arms)."""
    art, src = open_cursor(store)
    body = guarded(store, art, fn, art, src, *args, **kwargs)
    if store.audience.folds_events:
        return _encoded(request, art, lambda: private_json(body))
    etag = store.audience.etag(art)
    return _encoded(request, art, lambda: cached_json(request, body, etag, store.settings.cache_max_age))


def _encoded(request: Request, art: Artifact, respond: Callable[[], Response]) -> Response:
    try:
        return respond()
    except ValueError:  # json.dumps(allow_nan=False): a NaN or infinity the artifact's checks did not stop
        # Refused rather than cleaned: a non-finite score means the list was ranked on garbage, so dropping the
        # item would serve an order nobody can trust. A 503 with the reason, the rest of the artifact served.
        logger.error("answer to %s holds a number JSON cannot carry (NaN or infinite); artifact %s",
                     request.url.path[:200], art.path)
        raise ApiError(503, "artifact_invalid", public_message("artifact_invalid")) from None
