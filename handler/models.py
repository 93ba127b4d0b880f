"""Response shapes, for the OpenAPI document at /docs and for tests that check answers against it.

Routes return ready-made JSON responses (skipping per-request validation on the hot path); the
tests validate real bodies against these models so the documentation cannot drift.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from latentlens.handler.experiments import Variant
from latentlens.handler.limits import ID_PATTERN


class MovieRef(BaseModel):
    movie_id: int
    title: str
    display_title: str
    year: int | None
    genres: list[str]


class RankedMovie(MovieRef):
    rank: int
    score: float


class SimilarMovie(RankedMovie):
    source: str


class Reason(BaseModel):
    """One of the user's (or the request's) rated movies that contributed most to a recommendation: kind
    "similar" (the pick is like it) or "recent" (the pick is often rated next after it, and it is one of the
    latest ratings: "because you recently rated X"; listed first)."""
    movie_id: int
    title: str
    display_title: str
    rating: float
    kind: Literal["similar", "recent"] = "similar"


class RecommendedMovie(RankedMovie):
    because: list[Reason]


class Movie(MovieRef):
    imdb_id: str | None
    tmdb_id: int | None
    n_ratings: int
    mean_rating: float | None


class SearchHit(MovieRef):
    n_ratings: int


RecommendationId = Annotated[str, Field(pattern=ID_PATTERN, description=(
    "this list's id: send it back as the recommendation_id of the events it leads to (impressions, clicks); the "
    "same build, list, parameters, variant and folded events give the same id"))]
VariantField = Annotated[Variant, Field(description=(
    "the A/B arm that made the list: the person's arm while an experiment runs, else champion"))]
# stored list | stored list with the person's latest rating events folded in | those events alone | popular
Source = Literal["personal", "personal+events", "events", "popular"]


class UserRecommendations(BaseModel):
    user_id: int
    source: Source
    genre: str | None
    variant: VariantField
    recommendation_id: RecommendationId
    items: list[RecommendedMovie]


class SessionRecommendations(BaseModel):
    session_id: str
    source: Source
    genre: str | None
    variant: VariantField
    recommendation_id: RecommendationId
    items: list[RecommendedMovie]


class SimilarMovies(BaseModel):
    movie_id: int
    variant: VariantField
    recommendation_id: RecommendationId
    items: list[SimilarMovie]


class SearchResults(BaseModel):
    query: str
    items: list[SearchHit]


class PopularMovies(BaseModel):
    genre: str | None
    items: list[RankedMovie]


class LikedRecommendations(BaseModel):
    liked: list[int]
    ratings: dict[str, float]
    unknown: list[int]
    variant: VariantField
    recommendation_id: RecommendationId
    items: list[RecommendedMovie]


class BuildSummary(BaseModel):
    created_at: str
    dataset_name: str
    dataset_sha256: str
    topn_champion: str
    rating_champion: str
    mlflow_run_id: str
    package_version: str


class Counts(BaseModel):
    users: int
    movies: int
    ratings: int


class Health(BaseModel):
    status: Literal["ok"]
    schema_version: int
    build: BuildSummary
    counts: Counts
    artifact_sha256: str | None


class HealthError(BaseModel):
    status: Literal["unavailable"]
    error: dict[str, str]


class Genres(BaseModel):
    genres: list[str]


class EventsAccepted(BaseModel):
    """What `POST /events` stored: every event's id in the order sent (the client's `event_id`, or one made by
    the server), how many were stored now, and how many were already stored (a repeated `event_id`)."""
    event_ids: list[str]
    stored: int
    duplicates: int
