"""GET / (the page for people), GET /docs (Swagger UI) and GET /redoc (ReDoc), their assets served from
here, not from a CDN.

The page is plain HTML, CSS and JS kept as package data in handler/page/, inlined into one
document on first use so a single route serves it (and it loads the same under any prefix:
a REST API stage, a custom domain's base path). Its Content-Security-Policy is strict: everything
from this origin only, no 'unsafe-inline' (the inlined script and style are allowed by their sha256,
computed from the very text served), images from this origin or inline (data:, the page's icon), no
plugins, no <base>, and no framing (`frame-ancestors 'none'`). A meta tag tells the script whether events
are on (an event store is configured): only then does it send the person's ratings, clicks and impressions.
Swagger UI's and ReDoc's assets come from the
fastapi-offline package, which bundles them; nothing is copied into this repository.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
from functools import cache
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.responses import FileResponse, Response

from latentlens.handler.errors import ApiError

router = APIRouter()

PAGE_DIR = Path(__file__).resolve().parent.parent / "page"
# Swagger UI's and ReDoc's files as fastapi-offline ships them; located without importing the package.
_OFFLINE = importlib.util.find_spec("fastapi_offline")
DOCS_ASSETS = {name: media for name, media in (("swagger-ui-bundle.js", "text/javascript"),
                                               ("swagger-ui.css", "text/css"), ("favicon.png", "image/png"),
                                               ("redoc.standalone.js", "text/javascript"))}
ASSET_MAX_AGE = 86400
# Images (and the page's other loads) only from this origin; data: for ReDoc's inline icons.
REDOC_CSP = "default-src 'self' blob: data: 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'"
# The page's own: scripts and styles only by their hash (see page_csp), all else from this origin, never framed;
# images also as data: URLs, for the icon inlined in index.html (an image cannot run script).
PAGE_CSP = ("default-src 'self'; script-src {script}; style-src {style}; img-src 'self' data:; connect-src 'self'; "
            "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def docs_asset_dir() -> Path:
    if _OFFLINE is None or not _OFFLINE.submodule_search_locations:
        raise ApiError(503, "docs_unavailable", "the fastapi-offline package with Swagger UI's assets is not installed")
    return Path(next(iter(_OFFLINE.submodule_search_locations))) / "static"


@cache
def page_parts() -> tuple[str, str, str]:
    """index.html, app.css and app.js as served (read once per process)."""
    html, css, js = ((PAGE_DIR / name).read_text(encoding="utf-8") for name in ("index.html", "app.css", "app.js"))
    return html, css, js


# Whether the page sends events: the server fills this in, so the script knows before its first request.
EVENTS_META = '<meta name="latentlens-events" content="off">'


@cache
def page_html(events: bool = False) -> str:
    """index.html with app.css and app.js inlined (built once per process for each of events off and on)."""
    html, css, js = page_parts()
    if EVENTS_META not in html:
        raise RuntimeError(f"handler/page/index.html lacks {EVENTS_META}")
    if events:
        html = html.replace(EVENTS_META, EVENTS_META.replace('"off"', '"on"'))
    return html.replace("/*APP_CSS*/", css).replace("/*APP_JS*/", js)


def _source_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


@cache
def page_csp() -> str:
    """The page's Content-Security-Policy: its one script and one style allowed by their sha256."""
    _, css, js = page_parts()
    return PAGE_CSP.format(script=_source_hash(js), style=_source_hash(css))


@router.get("/", include_in_schema=False)
async def page(request: Request) -> HTMLResponse:
    """The page: search, a movie's card and similar movies, rate a few, a user's picks, popular lists. With an
    event store configured it also sends its ratings, clicks and impressions under a session (app.js)."""
    events = request.app.state.events is not None
    return HTMLResponse(page_html(events), headers={"Cache-Control": "no-cache", "Content-Security-Policy": page_csp()})


@router.get("/docs", include_in_schema=False)
async def docs() -> HTMLResponse:
    """Swagger UI loading the schema and its own assets by *relative* URLs, so it resolves under whatever
    prefix the page was served from: a REST API stage (/Prod/docs -> /Prod/openapi.json), a custom
    domain's base path, or none. FastAPI's own /docs asks for the absolute /openapi.json and a CDN."""
    html = get_swagger_ui_html(openapi_url="openapi.json", title="LatentLens API",
                               swagger_js_url="docs/assets/swagger-ui-bundle.js",
                               swagger_css_url="docs/assets/swagger-ui.css",
                               swagger_favicon_url="docs/assets/favicon.png")
    html.headers["Content-Security-Policy"] = "frame-ancestors 'none'"  # its inline script stays allowed
    return html


@router.get("/redoc", include_in_schema=False)
async def redoc() -> HTMLResponse:
    """ReDoc, like /docs: the schema and the script by relative URLs, and no Google Fonts (FastAPI's
    own /redoc loads both the script and the fonts from CDNs). ReDoc's sidebar footer still asks
    cdn.redoc.ly for its logo, with no option to turn that off; the page's Content-Security-Policy
    lets images come only from here, so the browser never sends that request and ReDoc drops the
    image (it hides the logo when it fails to load)."""
    html = get_redoc_html(openapi_url="openapi.json", title="LatentLens API",
                          redoc_js_url="docs/assets/redoc.standalone.js",
                          redoc_favicon_url="docs/assets/favicon.png", with_google_fonts=False)
    html.headers["Content-Security-Policy"] = REDOC_CSP
    return html


@router.get("/docs/assets/{name}", include_in_schema=False)
async def docs_asset(name: str) -> Response:
    """One of Swagger UI's bundled files, by a fixed list of names (never a path from the request)."""
    media = DOCS_ASSETS.get(name)
    if media is None:
        raise ApiError(404, "not_found", f"no docs asset {name!r}")
    return FileResponse(docs_asset_dir() / name, media_type=media,
                        headers={"Cache-Control": f"public, max-age={ASSET_MAX_AGE}"})
