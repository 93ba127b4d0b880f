"""GET /health: is the artifact servable, and which build is it."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from latentlens.handler.artifact import ArtifactUnavailable
from latentlens.handler.deps import StoreDep
from latentlens.handler.errors import NO_STORE
from latentlens.handler.models import Health, HealthError
from latentlens.handler.public import public_message

router = APIRouter(tags=["health"])

_BUILD_KEYS = ("created_at", "dataset_name", "dataset_sha256", "topn_champion", "rating_champion",
               "mlflow_run_id", "package_version")


def _int(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        return -1


@router.get("/health", response_model=Health, responses={503: {"model": HealthError, "description": "artifact unavailable"}})
async def health(store: StoreDep) -> JSONResponse:
    """200 with the build's identity when the artifact is open and verified; 503 with the reason otherwise."""
    try:
        art = store.artifact()
    except ArtifactUnavailable as exc:
        # the details (paths, DuckDB's words) are in the log Store wrote when the open failed
        body = {"status": "unavailable", "error": {"code": exc.reason, "message": public_message(exc.reason)}}
        return JSONResponse(body, status_code=503, headers=NO_STORE)
    info = art.build_info
    body = {
        "status": "ok",
        "schema_version": int(info["schema_version"]),
        "build": {k: info[k] for k in _BUILD_KEYS},
        "counts": {"users": _int(info["n_users"]), "movies": _int(info["n_movies"]), "ratings": _int(info["n_ratings"])},
        "artifact_sha256": art.sha256,
    }
    return JSONResponse(body, headers={**NO_STORE, "ETag": art.etag})
