"""GET /recommendations?liked=...: "if you liked The Godfather", for someone with no account."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from latentlens.handler import queries
from latentlens.handler.caching import cached_json
from latentlens.handler.deps import StoreDep, guarded, open_cursor
from latentlens.handler.errors import ERROR_RESPONSES, ApiError, ErrorResponse
from latentlens.handler.models import LikedRecommendations
from latentlens.handler.routes.params import MAX_ID, N

router = APIRouter(tags=["recommendations"], responses=ERROR_RESPONSES)

MAX_LIKED = 50


def parse_liked(values: list[str]) -> list[int]:
    """`liked=858,1213` (or repeated `liked=`) -> distinct positive ids in the order given."""
    ids: list[int] = []
    for value in values:
        for part in value.split(","):
            part = part.strip()
            # isascii: str.isdigit() is also true of '²' (int() then raises: a 500) and of '５' or '٥'
            if not (part.isascii() and part.isdigit()) or not 1 <= int(part) <= MAX_ID:
                raise ApiError(422, "invalid_parameter", f"liked: {part!r} is not a positive integer movie id")
            ids.append(int(part))
    ids = list(dict.fromkeys(ids))
    if not ids:
        raise ApiError(422, "invalid_parameter", "liked: give at least one movie id")
    if len(ids) > MAX_LIKED:
        raise ApiError(422, "invalid_parameter", f"liked: at most {MAX_LIKED} movie ids")
    return ids


@router.get("/recommendations", response_model=LikedRecommendations,
            responses={404: {"model": ErrorResponse, "description": "none of the liked movies is known"}})
async def liked_recommendations(request: Request, store: StoreDep,
                          liked: Annotated[list[str], Query(description="movie ids, comma-separated, at most 50")],
                          n: N = 10) -> Response:
    """Movies like the given ones (aggregated from their similar-movie lists), excluding the inputs."""
    ids = parse_liked(liked)
    art, cur = open_cursor(store)
    known = [i for i in ids if i in art.movies]
    if not known:
        raise ApiError(404, "movie_not_found", "none of the liked movies is in the catalogue")
    items = guarded(store, art, queries.liked, art, cur, known, n)
    unknown = sorted(set(ids) - set(known))
    body = {"liked": known, "unknown": unknown, "items": items}
    return cached_json(request, body, art.etag, store.settings.cache_max_age)
