"""GET /movies (title search), /movies/{id} and /movies/{id}/similar."""

from __future__ import annotations

import string
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from latentlens.handler import queries
from latentlens.handler.caching import cached_json
from latentlens.handler.deps import StoreDep, guarded, open_cursor
from latentlens.handler.errors import ERROR_RESPONSES, ApiError, ErrorResponse
from latentlens.handler.models import Movie, SearchResults, SimilarMovies
from latentlens.handler.routes.params import Limit, MovieId, N
from latentlens.handler.schema import search_key

router = APIRouter(tags=["movies"], responses=ERROR_RESPONSES)
NOT_FOUND = {404: {"model": ErrorResponse, "description": "unknown movie"}}

# MovieLens moves leading articles to the end ("Godfather, The"), so a query's leading article is dropped.
_ARTICLES = frozenset({"the", "a", "an", "le", "la", "les", "l'", "el", "los", "las", "il", "der", "die", "das"})
_MAX_TOKENS = 8


def search_terms(text: str) -> tuple[list[str], str, str]:
    """Fold a query like the build folds titles: (tokens that must all occur, whole phrase, phrase without
    a leading article)."""
    words = [w.strip(string.punctuation) for w in search_key(text).split()]
    words = [w for w in words if w]
    phrase = " ".join(words)
    while len(words) > 1 and words[0] in _ARTICLES:
        words = words[1:]
    tokens = list(dict.fromkeys(words))[:_MAX_TOKENS]
    return tokens, phrase, " ".join(words)


@router.get("/movies", response_model=SearchResults)
async def search_movies(request: Request, store: StoreDep,
                  search: Annotated[str, Query(min_length=1, max_length=200, description="title words, any case or accents")],
                  limit: Limit = 10) -> Response:
    """Title search, case- and accent-insensitive: "the godfather" finds "Godfather, The (1972)"."""
    tokens, phrase, stripped = search_terms(search)
    if not tokens:
        raise ApiError(422, "invalid_parameter", "search: needs at least one letter or digit")
    art, _ = open_cursor(store)
    items = guarded(store, art, queries.search, art, tokens, phrase, stripped, limit)
    return cached_json(request, {"query": search, "items": items}, art.etag, store.settings.cache_max_age)


@router.get("/movies/{movie_id}", response_model=Movie, responses=NOT_FOUND)
async def get_movie(request: Request, store: StoreDep, movie_id: MovieId) -> Response:
    """One movie and its rating statistics."""
    art, cur = open_cursor(store)
    movie = guarded(store, art, queries.movie, cur, movie_id)
    if movie is None:
        raise ApiError(404, "movie_not_found", f"no movie {movie_id}")
    return cached_json(request, movie, art.etag, store.settings.cache_max_age)


@router.get("/movies/{movie_id}/similar", response_model=SimilarMovies, responses=NOT_FOUND)
async def similar_movies(request: Request, store: StoreDep, movie_id: MovieId, n: N = 10) -> Response:
    """Movies most similar to this one, best first."""
    art, cur = open_cursor(store)
    items = guarded(store, art, queries.similar, art, cur, movie_id, n)
    if items is None:
        raise ApiError(404, "movie_not_found", f"no movie {movie_id}")
    return cached_json(request, {"movie_id": movie_id, "items": items}, art.etag, store.settings.cache_max_age)
