"""HTTP caching: a successful answer carries the build's ETag and a max-age, unless it can change without a new build.

The artifact's data only changes with a new build, so the ETag is the build's; a client holding it gets
an empty 304 instead of the body. A person's list while an event store is configured changes with their
events, so it is `private, no-store` instead (latentlens.handler.deps.answered_for_person).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 weak comparison against an If-None-Match list (or `*`)."""
    if not if_none_match:
        return False
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == etag:
            return True
    return False


def cached_json(request: Request, body: Any, etag: str, max_age: int) -> Response:
    """A 200 with ETag/Cache-Control, or a 304 when the client already has this build's answer."""
    headers = {"ETag": etag, "Cache-Control": f"public, max-age={max_age}"}
    if etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return JSONResponse(body, headers=headers)


PRIVATE = {"Cache-Control": "private, no-store"}


def private_json(body: Any) -> Response:
    """A 200 no cache keeps or serves again (no ETag: a later request may answer differently)."""
    return JSONResponse(body, headers=PRIVATE)
