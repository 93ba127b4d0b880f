"""The FastAPI app and its Lambda entry, `latentlens.handler.app.handler`.

`create_app(settings)` builds an app around one lazily opened Store; nothing touches the
artifact at import, and `lifespan="off"` because Mangum would otherwise run startup on every
invocation.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from mangum import Mangum

from latentlens.handler.errors import install_error_handlers
from latentlens.handler.routes import health, movies, popular, recommendations, users
from latentlens.handler.settings import Settings, get_settings
from latentlens.handler.store import Store


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API over the artifact named by `settings.db` (default: the LATENTLENS_* environment)."""
    settings = settings or get_settings()
    app = FastAPI(
        title="LatentLens",
        summary="Read-only MovieLens recommendations served from one DuckDB file.",
        version="1",
        docs_url=None,  # our own /docs below
    )

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        """Swagger UI loading the schema by a *relative* URL, so it resolves under whatever prefix the
        page was served from: a REST API stage (/Prod/docs -> /Prod/openapi.json), a custom domain's
        base path, or none. FastAPI's own /docs asks for the absolute /openapi.json."""
        return get_swagger_ui_html(openapi_url="openapi.json", title="LatentLens API")

    app.state.store = Store(settings)
    install_error_handlers(app)
    for module in (health, users, movies, popular, recommendations):
        app.include_router(module.router)
    return app


handler = Mangum(create_app(), lifespan="off")
