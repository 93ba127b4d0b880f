"""Response shapes, for the OpenAPI document at /docs and for tests that check answers against it.

Routes return ready-made JSON responses (skipping per-request validation on the hot path); the
tests validate real bodies against these models so the documentation cannot drift. So a model's
validator and schema are built when first asked for (`/openapi.json`, a test), not at import: a cold
start builds none of them (Documented).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from latentlens.handler.experiments import Variant
from latentlens.handler.limits import ID_PATTERN


class Documented(BaseModel):
    """A response shape: pydantic builds its validator and schema on first use (defer_build), and so does
    FastAPI's response field for a route that names it, since both follow the model's config."""
    model_config = ConfigDict(defer_build=True)


class MovieRef(Documented):
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


class Reason(Documented):
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


class UserRecommendations(Documented):
    user_id: int
    source: Source
    genre: str | None
    variant: VariantField
    recommendation_id: RecommendationId
    items: list[RecommendedMovie]


class SessionRecommendations(Documented):
    session_id: str
    source: Source
    genre: str | None
    variant: VariantField
    recommendation_id: RecommendationId
    items: list[RecommendedMovie]


class SimilarMovies(Documented):
    movie_id: int
    variant: VariantField
    recommendation_id: RecommendationId
    items: list[SimilarMovie]


class SearchResults(Documented):
    query: str
    items: list[SearchHit]


class PopularMovies(Documented):
    genre: str | None
    items: list[RankedMovie]


class LikedRecommendations(Documented):
    liked: list[int]
    ratings: dict[str, float]
    unknown: list[int]
    variant: VariantField
    recommendation_id: RecommendationId
    items: list[RecommendedMovie]


class BuildSummary(Documented):
    created_at: str
    dataset_name: str
    dataset_sha256: str
    topn_champion: str
    rating_champion: str
    mlflow_run_id: str
    package_version: str


class Counts(Documented):
    users: int
    movies: int
    ratings: int


class Health(Documented):
    status: Literal["ok"]
    schema_version: int
    build: BuildSummary
    counts: Counts
    artifact_sha256: str | None


class HealthError(Documented):
    status: Literal["unavailable"]
    error: dict[str, str]


class Genres(Documented):
    genres: list[str]


class EventsAccepted(Documented):
    """What `POST /events` stored: every event's id in the order sent (the client's `event_id`, or one made by
    the server), how many were stored now, and how many were already stored (a repeated `event_id`)."""
    event_ids: list[str]
    stored: int
    duplicates: int
