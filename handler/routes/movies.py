"""GET /movies (title search), /movies/{id} and /movies/{id}/similar."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from latentlens.handler import answers
from latentlens.handler.answers import search_terms  # noqa: F401 -- tests and bench/ import it from here too
from latentlens.handler.deps import StoreDep, answered
from latentlens.handler.errors import ERROR_RESPONSES, ErrorResponse
from latentlens.handler.models import Movie, SearchResults, SimilarMovies
from latentlens.handler.routes.params import Limit, MovieId, N

router = APIRouter(tags=["movies"], responses=ERROR_RESPONSES)
NOT_FOUND: dict[int | str, dict] = {404: {"model": ErrorResponse, "description": "unknown movie"}}


@router.get("/movies", response_model=SearchResults)
async def search_movies(request: Request, store: StoreDep,
                  search: Annotated[str, Query(min_length=1, max_length=200,
                                               description="title words, any case or accents")],
                  limit: Limit = 10) -> Response:
    """Title search, case- and accent-insensitive: "the godfather" finds "Godfather, The (1972)"."""
    answers.search_query(search)  # a query with nothing to find is a 422 even while the artifact is unavailable
    return answered(request, store, answers.search, search, limit=limit)


@router.get("/movies/{movie_id}", response_model=Movie, responses=NOT_FOUND)
async def get_movie(request: Request, store: StoreDep, movie_id: MovieId) -> Response:
    """One movie and its rating statistics."""
    return answered(request, store, answers.movie, movie_id)


@router.get("/movies/{movie_id}/similar", response_model=SimilarMovies, responses=NOT_FOUND)
async def similar_movies(request: Request, store: StoreDep, movie_id: MovieId, n: N = 10) -> Response:
    """Movies most similar to this one, best first."""
    return answered(request, store, answers.similar, movie_id, n=n)
