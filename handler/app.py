"""The FastAPI app and its Lambda entry, `handler.app.handler`.

`create_app(settings)` builds an app around one lazily opened Store; nothing touches the
artifact at import, and `lifespan="off"` because Mangum would otherwise run startup on every
invocation.
"""

from __future__ import annotations

from fastapi import FastAPI
from mangum import Mangum

from handler.errors import install_error_handlers
from handler.routes import health, movies, page, popular, recommendations, users
from handler.settings import Settings, get_settings
from handler.store import Store


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API over the artifact named by `settings.db` (default: the LATENTLENS_* environment)."""
    settings = settings or get_settings()
    app = FastAPI(
        title="LatentLens",
        summary="Read-only MovieLens recommendations served from one DuckDB file.",
        version="1",
        docs_url=None,  # our own /docs, with Swagger UI's assets served locally (handler.routes.page)
        # No 307 from /x/ to /x: API Gateway has no such routes either, and the redirect of a
        # dot-segment path ("/movies/%2e%2e%2f" -> "/movies/..") would land a client on the page.
        redirect_slashes=False,
    )
    app.state.store = Store(settings)
    install_error_handlers(app)
    for module in (health, users, movies, popular, recommendations, page):
        app.include_router(module.router)
    return app


handler = Mangum(create_app(), lifespan="off")
