"""The FastAPI app and its Lambda entry, `latentlens.handler.app.handler`.

`create_app(settings)` builds an app around one lazily opened Store; nothing touches the
artifact at import, and `lifespan="off"` because Mangum would otherwise run startup on every
invocation.
"""

from __future__ import annotations

from latentlens.handler import import_pause  # first: the garbage collector rests while the modules below load

# isort: split
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from latentlens.handler.errors import install_error_handlers
from latentlens.handler.http_guards import HeadAsGet, NoSniff, RelativeSlashRedirect, ResponseLimit, UrlLimit
from latentlens.handler.lambda_entry import LambdaEntry
from latentlens.handler.routes import events, health, movies, page, popular, recommendations, sessions, users
from latentlens.handler.settings import Settings, get_settings
from latentlens.handler.stores import audience_for, make_store


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Under uvicorn (Mangum runs with lifespan off): on shutdown, finish the event writes in progress."""
    yield
    if app.state.events is not None:
        app.state.events.close()


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API over the artifact named by `settings.db` (default: the LATENTLENS_* environment), taking events
    into the store `settings.events` names (none: POST /events answers 503 events_disabled)."""
    settings = settings or get_settings()
    app = FastAPI(
        title="LatentLens",
        summary="MovieLens recommendations served from one DuckDB file; events in, when a store is configured.",
        version="1",
        docs_url=None,  # our own /docs and /redoc, with their assets served locally (latentlens.handler.routes.page)
        redoc_url=None,
        # No 307 from /x/ to /x: Starlette's builds an absolute Location from the Host header (see
        # http_guards for the relative redirect we answer instead), and the redirect of a dot-segment
        # path ("/movies/%2e%2e%2f" -> "/movies/..") would land a client on the page.
        redirect_slashes=False,
        lifespan=_lifespan,
    )
    app.state.settings = settings
    audience = audience_for(settings)  # the event store (also POST /events's) and the experiment
    app.state.store = make_store(settings, audience)
    app.state.events = audience.events
    install_error_handlers(app)
    # Last added runs first: nosniff on all that follows, the URL limit, the slash redirect, HEAD as GET, then the
    # response limit around the routes.
    app.add_middleware(ResponseLimit, max_bytes=settings.max_response_bytes)
    app.add_middleware(HeadAsGet)
    app.add_middleware(RelativeSlashRedirect)
    app.add_middleware(UrlLimit, max_bytes=settings.max_url_bytes)
    app.add_middleware(NoSniff)
    for module in (health, users, sessions, movies, popular, recommendations, events, page):
        app.include_router(module.router)
    return app


handler = LambdaEntry(create_app())  # Mangum behind a check that answers every event with JSON
import_pause.resume()
