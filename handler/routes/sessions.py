"""GET /sessions/{session_id}/recommendations: a session's list, the one the page shows someone without an account."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from latentlens.handler import answers
from latentlens.handler.deps import StoreDep, answered_for_person
from latentlens.handler.errors import ERROR_RESPONSES
from latentlens.handler.models import SessionRecommendations
from latentlens.handler.routes.params import Genre, N, SessionId

router = APIRouter(tags=["sessions"], responses=ERROR_RESPONSES)


@router.get("/sessions/{session_id}/recommendations", response_model=SessionRecommendations)
async def session_recommendations(request: Request, store: StoreDep, session_id: SessionId, n: N = 10,
                                  genre: Genre = None) -> Response:
    """Ranked movies for a session (the random id a client keeps and sends its events under): the stored list
    of the user a build trained the session as (`source: personal`), else the fold of the session's rating
    events since the build (`source: events`, as `/recommendations?ratings=` gives it), else the popular list
    (`source: popular`). A stored list has the events folded in too (`source: personal+events`). With an event
    store the answer is `Cache-Control: private, no-store`. `variant` is the session's arm while an experiment
    runs. `genre` filters within the list."""
    return answered_for_person(request, store, answers.session_recommendations, session_id, n=n, genre=genre)
