"""GET /popular: the most popular movies, overall or per genre."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from latentlens.handler import queries
from latentlens.handler.caching import cached_json
from latentlens.handler.deps import StoreDep, open_cursor, resolve_genre
from latentlens.handler.errors import ERROR_RESPONSES
from latentlens.handler.models import PopularMovies
from latentlens.handler.routes.params import Genre, N

router = APIRouter(tags=["popular"], responses=ERROR_RESPONSES)


@router.get("/popular", response_model=PopularMovies)
async def popular(request: Request, store: StoreDep, n: N = 10, genre: Genre = None) -> Response:
    """Most popular movies overall, or within `genre`."""
    art, cur = open_cursor(store)
    g = resolve_genre(art, genre)
    items = queries.popular(art, n, g)
    return cached_json(request, {"genre": g, "items": items}, art.etag, store.settings.cache_max_age)
