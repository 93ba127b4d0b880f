"""POST /events: what people did with movies (impressions, clicks, ratings, dismissals), into the event store.

Checked in this order, each failure a JSON error and nothing stored: a store is configured (else 503
`events_disabled`), the body is JSON (415) of at most 16 KiB (413), every event is valid (422 naming the
index and the field), user events carry the deployment's key (401 `events_key_invalid`; 403
`user_events_disabled` when the deployment has none), every movie is in the served build (422
`unknown_movie`). Then the batch is stored whole, and the 202 comes once it is durable. Every answer here
is `Cache-Control: no-store`. Nothing else about the request is kept: no address, no user agent.
"""

from __future__ import annotations

import hmac
import logging
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from latentlens.handler.artifact import Artifact
from latentlens.handler.deps import guarded, open_cursor
from latentlens.handler.errors import NO_STORE, ApiError, ErrorResponse
from latentlens.handler.events.model import (
    MAX_BATCH,
    MAX_BODY_BYTES,
    Batch,
    EventsInvalid,
    body_schema,
    parse_events,
    record,
)
from latentlens.handler.events.store import PUBLIC_MESSAGES, EventStore, EventStoreUnavailable, put_async
from latentlens.handler.models import EventsAccepted

router = APIRouter(tags=["events"])
logger = logging.getLogger("latentlens.handler")

KEY_HEADER = "X-LatentLens-Key"


def _error(description: str) -> dict:
    return {"model": ErrorResponse, "description": description}


RESPONSES: dict[int | str, dict] = {
    401: _error("user events without the right X-LatentLens-Key"),
    403: _error("user events, and this deployment takes session events only"),
    413: _error(f"a body over {MAX_BODY_BYTES} bytes"),
    415: _error("a body that is not application/json"),
    422: _error("an invalid event (the message names its index and field), or a movie the build lacks"),
    503: _error("events are off, or the store or the artifact cannot be used now"),
}


def _store(request: Request) -> EventStore:
    store: EventStore | None = request.app.state.events
    if store is None:
        raise ApiError(503, "events_disabled", PUBLIC_MESSAGES["events_disabled"])
    return store


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The body, if JSON and at most `limit` bytes; a longer one is refused before more of it is read."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != "application/json":
        raise ApiError(415, "unsupported_media_type", "send the events as JSON (Content-Type: application/json)")
    too_large = ApiError(413, "body_too_large", f"the body exceeds {limit} bytes (at most {MAX_BATCH} events)")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and (len(declared) > 12 or int(declared) > limit):
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def authorize(batch: Batch, given: str | None, key: str | None) -> None:
    """Events of a user_id need the deployment's key (constant-time compare); session events need nothing."""
    if all(event.user_id is None for event in batch.events):
        return
    if key is None:
        raise ApiError(403, "user_events_disabled", "this deployment takes session events only (session_id); "
                                                    "user events need a key configured on the server")
    if given is None or not hmac.compare_digest(given.encode(), key.encode()):
        raise ApiError(401, "events_key_invalid", f"user events need the deployment's key in {KEY_HEADER}",
                       headers={"WWW-Authenticate": 'LatentLens-Key realm="events"'})


def _absent(art: Artifact, movie_ids: list[int]) -> set[int]:
    art.movies.want(movie_ids)
    return {movie_id for movie_id in movie_ids if movie_id not in art.movies}


def check_movies(request: Request, batch: Batch) -> None:
    """Every movie id is one of the served build's (a 503 with the reason when the build cannot be read)."""
    store = request.app.state.store
    art, _ = open_cursor(store)
    absent = guarded(store, art, _absent, art, sorted({event.movie_id for event in batch.events}))
    bad = [f"{batch.where(i, 'movie_id')}: {event.movie_id} is not a movie of the served build"
           for i, event in enumerate(batch.events) if event.movie_id in absent]
    if bad:
        more = f"; and {len(bad) - 5} more" if len(bad) > 5 else ""
        raise ApiError(422, "unknown_movie", "; ".join(bad[:5]) + more)


# Read from the request itself, not as a FastAPI parameter: solving parameters cost about a fifth of this route's CPU.
KEY_PARAMETER = {"name": KEY_HEADER, "in": "header", "required": False, "schema": {"type": "string"},
                 "description": "the deployment's key: needed for events with a user_id"}
EXAMPLES = {
    "a rating": {"value": {"session_id": "k9f2c1", "movie_id": 858, "type": "rating", "rating": 4.5,
                           "event_id": "k9f2c1-0001"}},
    "a list": {"value": [
        {"session_id": "k9f2c1", "movie_id": 858, "type": "impression", "recommendation_id": "r-7f3a"},
        {"session_id": "k9f2c1", "movie_id": 858, "type": "click", "recommendation_id": "r-7f3a",
         "at": "2025-01-31T12:00:00Z"}]},
}


@router.post("/events", status_code=202, response_model=EventsAccepted, responses=RESPONSES,
             openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                 "schema": body_schema(), "examples": EXAMPLES}}}, "parameters": [KEY_PARAMETER]})
async def post_events(request: Request) -> JSONResponse:
    """Store one event or a list of up to 25, all or nothing: 202 with their ids once stored. A repeated
    `event_id` (same person) is acknowledged and not stored twice. Events of a `user_id` need the
    deployment's key in `X-LatentLens-Key`; events of a `session_id` need none."""
    store = _store(request)
    batch = _parse(await read_body(request))
    secret = request.app.state.settings.events_key
    authorize(batch, request.headers.get(KEY_HEADER), secret.get_secret_value() if secret is not None else None)
    check_movies(request, batch)
    now = datetime.now(UTC)
    records = [record(event, now) for event in batch.events]
    try:
        stored = await put_async(store, records)
    except EventStoreUnavailable as exc:
        logger.error("POST /events: %d events not stored (%s)", len(records), exc.detail)
        raise ApiError(503, exc.reason, PUBLIC_MESSAGES.get(exc.reason, PUBLIC_MESSAGES["events_unavailable"])) \
            from None
    body = {"event_ids": [r.event_id for r in records], "stored": sum(stored), "duplicates": len(stored) - sum(stored)}
    return JSONResponse(body, status_code=202, headers=NO_STORE)


def _parse(body: bytes) -> Batch:
    try:
        return parse_events(body)
    except EventsInvalid as exc:
        raise ApiError(422, "invalid_event", exc.message) from None
