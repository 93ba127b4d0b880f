"""GET /recommendations?liked=... or ?ratings=...: "if you liked The Godfather", for someone with no account."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from latentlens.handler import answers
from latentlens.handler.answers import MAX_STARS, MIN_STARS
from latentlens.handler.deps import StoreDep, answered
from latentlens.handler.errors import ERROR_RESPONSES, ApiError, ErrorResponse
from latentlens.handler.models import LikedRecommendations
from latentlens.handler.routes.params import N, parse_id

router = APIRouter(tags=["recommendations"], responses=ERROR_RESPONSES)


def _movie_id(name: str, part: str) -> int:
    movie_id = parse_id(part)  # length-checked before int(): 4,301+ digits would raise in int()
    if movie_id is None:
        raise ApiError(422, "invalid_parameter", f"{name}: {_excerpt(part)!r} is not a positive integer movie id")
    return movie_id


def _parts(values: list[str]) -> list[str]:
    """The comma-separated parts, as given: an id is ASCII digits alone, a space beside it is a 422 as in the path."""
    return [part for value in values for part in value.split(",")]


def _excerpt(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def parse_liked(values: list[str]) -> list[int]:
    """`liked=858,1213` (or repeated `liked=`) -> distinct positive ids in the order given."""
    ids = list(dict.fromkeys(_movie_id("liked", part) for part in _parts(values)))
    answers.check_count("liked", len(ids))
    return ids


def _stars(part: str, text: str) -> float:
    try:
        stars = float(text) if text.isascii() else float("nan")
    except ValueError:
        stars = float("nan")
    if not answers.valid_stars(stars):
        raise ApiError(422, "invalid_parameter",
                       f"ratings: {_excerpt(part)!r} needs stars from {MIN_STARS:g} to {MAX_STARS:g} "
                       "in half stars, e.g. 858:4.5")
    return stars


def parse_ratings(values: list[str]) -> dict[int, float]:
    """`ratings=858:5,1213:4.5,1:1` (or repeated `ratings=`) -> {movie id: stars} in the order given.
    The same id twice is fine with the same stars and a 422 with different ones."""
    ratings: dict[int, float] = {}
    for part in _parts(values):
        movie, sep, stars_text = part.partition(":")
        if not sep:
            raise ApiError(422, "invalid_parameter", f"ratings: {_excerpt(part)!r} is not movie_id:stars, e.g. 858:4.5")
        movie_id, stars = _movie_id("ratings", movie), _stars(part, stars_text.strip())
        if ratings.get(movie_id, stars) != stars:
            raise ApiError(422, "invalid_parameter", f"ratings: movie {movie_id} is rated twice with different stars")
        ratings[movie_id] = stars
    answers.check_count("ratings", len(ratings))
    return ratings


@router.get("/recommendations", response_model=LikedRecommendations,
            responses={404: {"model": ErrorResponse, "description": "none of the given movies is known"}})
async def liked_recommendations(
    request: Request, store: StoreDep,
    liked: Annotated[list[str] | None,
                     Query(description="movie ids, comma-separated, at most 50 (each as 5 stars), "
                                         "in the order watched: the last is the latest")] = None,
    ratings: Annotated[list[str] | None,
                       Query(description="movie_id:stars pairs, comma-separated, stars 0.5..5 "
                                         "in half stars, at most 50; low stars count against; in the order "
                                         "rated: the last is the latest")] = None,
    n: N = 10,
) -> Response:
    """Movies for someone with no account, from the movies they liked or rated, excluding those.

    Each rated movie's similar-movie list counts with weight (stars - 3) / 2, so 5 stars add its
    neighbours and 1 star pushes them down; `liked` is every movie at 5 stars. The order given is the
    order rated (the last is the latest): the latest 3 also count the movies most often rated next after
    them. Every item carries `because`: up to 3 of the given movies that contributed most, a `recent` one
    (the pick is often rated next after it) first."""
    if liked is not None and ratings is not None:
        raise ApiError(422, "invalid_parameter", "give liked or ratings, not both")
    if ratings is not None:
        given = parse_ratings(ratings)
    elif liked is not None:
        given = dict.fromkeys(parse_liked(liked), 5.0)
    else:
        raise ApiError(422, "invalid_parameter", "liked or ratings: give at least one movie id")
    return answered(request, store, answers.for_ratings, given, n=n)
