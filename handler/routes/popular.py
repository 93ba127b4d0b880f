"""GET /popular: the most popular movies, overall or per genre."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from latentlens.handler import answers
from latentlens.handler.deps import StoreDep, answered
from latentlens.handler.errors import ERROR_RESPONSES
from latentlens.handler.models import Genres, PopularMovies
from latentlens.handler.routes.params import Genre, N

router = APIRouter(tags=["popular"], responses=ERROR_RESPONSES)


@router.get("/popular", response_model=PopularMovies)
async def popular(request: Request, store: StoreDep, n: N = 10, genre: Genre = None) -> Response:
    """Most popular movies overall, or within `genre`."""
    return answered(request, store, answers.popular, genre, n=n)


@router.get("/genres", response_model=Genres)
async def genres(request: Request, store: StoreDep) -> Response:
    """The genres of this build's catalogue, in alphabetical order (the values `genre` accepts)."""
    return answered(request, store, answers.genres)
