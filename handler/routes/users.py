"""GET /users/{user_id}/recommendations: a user's stored top-N, or the popular list for strangers; GET
/recommend/{user_id} is its short form (the original project's route)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from latentlens.handler import answers
from latentlens.handler.deps import StoreDep, answered_for_person
from latentlens.handler.errors import ERROR_RESPONSES
from latentlens.handler.models import UserRecommendations
from latentlens.handler.routes.params import Genre, N, UserId

router = APIRouter(tags=["users"], responses=ERROR_RESPONSES)


@router.get("/users/{user_id}/recommendations", response_model=UserRecommendations)
async def user_recommendations(request: Request, store: StoreDep, user_id: UserId, n: N = 10,
                               genre: Genre = None) -> Response:
    """Ranked movies for a user (`source: personal`), each with `because`: up to 3 of the user's rated movies
    that contributed most (computed by the build, for the list's first 20 ranks; later ranks have it
    empty); a user not in the artifact gets the popular list (`source: popular`, `because` empty).
    `genre` filters within the list. With an event store, the user's rating events since the build are
    folded in (`source: personal+events`; `events` for a user not in the build) and the answer is
    `Cache-Control: private, no-store`. `variant` is the user's arm while an experiment runs."""
    return answered_for_person(request, store, answers.user_recommendations, user_id, n=n, genre=genre)


@router.get("/recommend/{user_id}", response_model=UserRecommendations,
            summary="Recommend for a user (the short form)")
async def recommend(request: Request, store: StoreDep, user_id: UserId, n: N = 10, genre: Genre = None) -> Response:
    """The short form of `GET /users/{user_id}/recommendations` (the route of the original LatentLens): the
    same answer for the same parameters."""
    return answered_for_person(request, store, answers.user_recommendations, user_id, n=n, genre=genre)
