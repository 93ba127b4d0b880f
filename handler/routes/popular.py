"""GET /popular: the most popular movies, overall or per genre."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from latentlens.handler import answers
from latentlens.handler.caching import cached_json
from latentlens.handler.deps import StoreDep, open_cursor
from latentlens.handler.errors import ERROR_RESPONSES
from latentlens.handler.models import Genres, PopularMovies
from latentlens.handler.routes.params import Genre, N

router = APIRouter(tags=["popular"], responses=ERROR_RESPONSES)


@router.get("/popular", response_model=PopularMovies)
async def popular(request: Request, store: StoreDep, n: N = 10, genre: Genre = None) -> Response:
    """Most popular movies overall, or within `genre`."""
    art, _ = open_cursor(store)
    return cached_json(request, answers.popular(art, n, genre), art.etag, store.settings.cache_max_age)


@router.get("/genres", response_model=Genres)
async def genres(request: Request, store: StoreDep) -> Response:
    """The genres of this build's catalogue, in alphabetical order (the values `genre` accepts)."""
    art, _ = open_cursor(store)
    return cached_json(request, answers.genres(art), art.etag, store.settings.cache_max_age)
