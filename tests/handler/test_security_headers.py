"""`X-Content-Type-Options: nosniff` on every response the app sends, whatever its status or route, through the
app in-process and through the Lambda entry; the page's Content-Security-Policy is strict and allows exactly the
script and style it inlines (checked in Chromium by tests/page)."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
from fastapi.testclient import TestClient

from latentlens.handler.app import create_app
from latentlens.handler.lambda_entry import LambdaEntry
from latentlens.handler.routes.page import page_html
from tests.handler.conftest import make_settings
from tests.handler.events import lambda_context, rest_v1

URLS = ["/", "/health", "/movies/858", "/movies/858/", "/movies/abc", "/nope", "/docs", "/redoc", "/openapi.json",
        "/docs/assets/swagger-ui.css", "/popular?n=1000", "/movies?search=" + "x" * 5_000]


@pytest.fixture
def client(artifact, tmp_path):
    app = create_app(make_settings(artifact, tmp_path, max_url_bytes=4096))  # a small limit: its 431 is checked
    yield TestClient(app, raise_server_exceptions=False, follow_redirects=False)
    app.state.store.close()


def test_every_response_says_nosniff(client) -> None:
    statuses = set()
    for url in URLS:
        r = client.get(url)
        statuses.add(r.status_code)
        assert r.headers["x-content-type-options"] == "nosniff", (url, r.status_code)
    r = client.request("POST", "/movies/858")
    assert r.status_code == 405 and r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-content-type-options"].count("nosniff") == 1
    assert {200, 307, 404, 422, 431} <= statuses | {r.status_code}


def test_a_missing_artifact_503_says_nosniff(tmp_path) -> None:
    app = create_app(make_settings(tmp_path / "absent.duckdb", tmp_path))
    r = TestClient(app, raise_server_exceptions=False).get("/movies/858")
    assert r.status_code == 503 and r.headers["x-content-type-options"] == "nosniff"


def test_through_the_lambda_entry_too(artifact, tmp_path) -> None:
    app = create_app(make_settings(artifact, tmp_path))
    entry = LambdaEntry(app)
    try:
        for path in ("/", "/movies/858", "/nope"):
            response = entry(rest_v1(path), lambda_context())
            headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
            multi = {k.lower(): v for k, v in (response.get("multiValueHeaders") or {}).items()}
            assert "nosniff" in (headers.get("x-content-type-options"), *multi.get("x-content-type-options", [])), \
                (path, response["statusCode"])
    finally:
        app.state.store.close()


def _digest(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def test_the_page_csp_is_strict_and_names_the_hashes_of_what_it_inlines(client) -> None:
    r = client.get("/")
    csp = dict(part.strip().split(" ", 1) for part in r.headers["content-security-policy"].split(";"))
    assert csp["default-src"] == "'self'" and csp["frame-ancestors"] == "'none'"
    assert csp["object-src"] == "'none'" and csp["base-uri"] == "'none'"
    assert csp["img-src"] == "'self' data:" and csp["connect-src"] == "'self'"  # data: for the inline icon only
    assert "unsafe-inline" not in r.headers["content-security-policy"]
    assert "unsafe-eval" not in r.headers["content-security-policy"]
    assert r.text == page_html()
    scripts = re.findall(r"<script>(.*?)</script>", r.text, re.S)
    styles = re.findall(r"<style>(.*?)</style>", r.text, re.S)
    assert len(scripts) == 1 and len(styles) == 1
    assert csp["script-src"] == _digest(scripts[0]) and csp["style-src"] == _digest(styles[0])
    assert not re.search(r"\son[a-z]+=|\sstyle=", r.text)  # no inline handler or style attribute the hashes miss


def test_docs_pages_cannot_be_framed(client) -> None:
    for url in ("/docs", "/redoc"):
        assert "frame-ancestors 'none'" in client.get(url).headers["content-security-policy"]


def test_the_page_says_whether_events_are_on_and_keeps_its_hashes(client, artifact, tmp_path) -> None:
    """The meta tag the page's script reads is "off" without an event store and "on" with one; the script and
    style are the same text either way, so the same CSP hashes allow them."""
    meta = '<meta name="latentlens-events" content="{}">'
    off = client.get("/")
    assert meta.format("off") in off.text and meta.format("on") not in off.text
    app = create_app(make_settings(artifact, tmp_path, events=str(tmp_path / "events.sqlite")))
    try:
        on = TestClient(app).get("/")
    finally:
        app.state.events.close()
        app.state.store.close()
    assert meta.format("on") in on.text and meta.format("off") not in on.text
    assert on.text == off.text.replace(meta.format("off"), meta.format("on"))
    assert on.headers["content-security-policy"] == off.headers["content-security-policy"]
