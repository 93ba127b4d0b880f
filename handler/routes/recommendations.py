"""GET /recommendations?liked=...: "if you liked The Godfather", for someone with no account."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from handler import queries
from handler.caching import cached_json
from handler.deps import StoreDep, guarded, open_cursor
from handler.errors import ERROR_RESPONSES, ApiError, ErrorResponse
from handler.models import LikedRecommendations
from handler.routes.params import N, parse_id

router = APIRouter(tags=["recommendations"], responses=ERROR_RESPONSES)

MAX_LIKED = 50


def _excerpt(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def parse_liked(values: list[str]) -> list[int]:
    """`liked=858,1213` (or repeated `liked=`) -> distinct positive ids in the order given."""
    ids: list[int] = []
    for value in values:
        for part in value.split(","):
            movie_id = parse_id(part.strip())
            if movie_id is None:
                raise ApiError(422, "invalid_parameter", f"liked: {_excerpt(part.strip())!r} is not a positive integer movie id")
            ids.append(movie_id)
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
