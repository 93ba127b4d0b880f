"""GET /health: is the artifact servable, and which build is it."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from latentlens.handler import answers
from latentlens.handler.artifact import ArtifactUnavailable
from latentlens.handler.deps import StoreDep
from latentlens.handler.errors import NO_STORE
from latentlens.handler.models import Health, HealthError
from latentlens.handler.public import public_message

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health,
            responses={503: {"model": HealthError, "description": "artifact unavailable"}})
async def health(store: StoreDep) -> JSONResponse:
    """200 with the build's identity when the artifact is open and verified; 503 with the reason otherwise."""
    try:
        art, src = store.rows()
    except ArtifactUnavailable as exc:
        # the details (paths, DuckDB's words) are in the log Store wrote when the open failed
        body = {"status": "unavailable", "error": {"code": exc.reason, "message": public_message(exc.reason)}}
        return JSONResponse(body, status_code=503, headers=NO_STORE)
    return JSONResponse(answers.health(art, src), headers={**NO_STORE, "ETag": art.etag})
