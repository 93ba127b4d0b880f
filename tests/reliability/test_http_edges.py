"""HTTP edges answered alike in-process, through the Lambda entry and under `latentlens serve`:
trailing-slash redirects never point off-site, HEAD and unknown methods get consistent JSON answers,
and no response outgrows what a Lambda response can carry (6 MB)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
from fastapi.testclient import TestClient

from latentlens.handler.lambda_entry import LambdaEntry
from tests.handler.events import http_v2, lambda_context, rest_v1
from tests.handler.fixture_artifact import MOVIES, build_fixture_artifact

LAMBDA_RESPONSE_LIMIT = 6_291_456  # bytes, the whole invocation response
GET_PATHS = ["/health", "/movies/858", "/movies/858/similar?n=2", "/movies?search=godfather", "/popular?n=3",
             "/users/1/recommendations?n=2", "/recommendations?liked=858", "/openapi.json", "/docs", "/redoc"]
EVIL_HOSTS = [{"host": "evil.example"}, {"host": "evil.example", "x-forwarded-host": "evil.example"},
              {"host": "evil.example:443", "x-forwarded-proto": "https"}]
SLASHED = ["/health/", "/movies/858/", "/movies/858/similar/?n=2", "/popular/?genre=Drama", "//evil.example/",
           "/%2F%2Fevil.example/", "/\\evil.example/", "/movies/858//", "/movies/%2e%2e/",
           "/movies/http:%2F%2Fevil.example/"]


def assert_not_off_site(location: str) -> None:
    """A relative-path reference: no scheme, no authority, not even a backslash a browser reads as one."""
    parts = urlsplit(location)
    assert not parts.scheme and not parts.netloc, location
    assert not location.startswith(("/", "\\")) and "\\" not in location, location


@pytest.mark.parametrize("headers", EVIL_HOSTS)
@pytest.mark.parametrize("path", SLASHED)
def test_trailing_slash_redirect_never_points_off_site_with_host_evil_example(client: TestClient, path, headers):
    r = client.get(path, headers=headers, follow_redirects=False)
    assert "evil.example" not in r.headers.get("location", "").split("/")[0]
    if path.startswith("//"):
        # a client reads "//evil.example/" as host evil.example, path "/": the page, never a redirect
        assert r.status_code == 200 and "location" not in r.headers and r.url.path == "/", (path, r.status_code)
        assert r.headers["content-type"].startswith("text/html")
        return
    assert r.headers["content-type"] == "application/json", (path, r.status_code)
    if r.status_code == 307:
        assert_not_off_site(r.headers["location"])
    else:
        assert 400 <= r.status_code < 500 and set(r.json()) == {"error"}, (path, r.status_code, r.text)


@pytest.mark.parametrize("path,target", [("/health/", "/health"), ("/movies/858/", "/movies/858"),
                                         ("/movies/858/similar/?n=2", "/movies/858/similar?n=2"),
                                         ("/popular/?genre=Drama&n=2", "/popular?genre=Drama&n=2")])
def test_trailing_slash_redirect_leads_to_the_route(client: TestClient, path, target):
    r = client.get(path, headers={"host": "evil.example"}, follow_redirects=False)
    assert r.status_code == 307
    resolved = urljoin("http://api.example" + path, r.headers["location"])
    assert resolved == "http://api.example" + target
    assert client.get(path).json() == client.get(target).json()  # followed: the route's own answer


@pytest.mark.parametrize("kind", ["rest_v1", "http_v2"])
def test_trailing_slash_redirect_through_lambda_keeps_the_stage_prefix(app_for, artifact, kind):
    entry = LambdaEntry(app_for(artifact))
    event = (rest_v1 if kind == "rest_v1" else http_v2)("/movies/858/", headers={"Host": "evil.example"})
    response = entry(event, lambda_context())
    location = response["headers"]["location"]
    assert response["statusCode"] == 307 and location == "../858"
    public = event["requestContext"]["path"] if kind == "rest_v1" else "/movies/858/"  # REST: /prod/movies/858/
    assert urljoin("https://api.example" + public, location) == "https://api.example" + public.rstrip("/")


@pytest.mark.parametrize("path", GET_PATHS)
def test_head_is_answered_like_get_without_a_body(client: TestClient, path):
    get, head = client.get(path), client.head(path)
    assert head.status_code == get.status_code == 200, (path, head.status_code)
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]
    assert head.headers.get("etag") == get.headers.get("etag")


def test_head_of_an_error_is_the_errors_status_without_a_body(client: TestClient):
    assert client.head("/movies/5").status_code == 404 and client.head("/popular?n=0").status_code == 422


@pytest.mark.parametrize("method", ["FOO", "PROPFIND", "BREW"])
@pytest.mark.parametrize("path", ["/health", "/movies/858", "/openapi.json", "/docs", "/redoc"])
def test_unknown_method_is_a_json_405_allowing_get_and_head(client: TestClient, method, path):
    r = client.request(method, path)
    assert r.status_code == 405 and r.headers["content-type"] == "application/json"
    assert r.json()["error"]["code"] == "method_not_allowed"
    assert r.headers["allow"] == "GET, HEAD"


def test_unknown_method_and_head_through_lambda(app_for, artifact):
    entry = LambdaEntry(app_for(artifact))
    foo = entry(http_v2("/movies/858", method="FOO"), lambda_context())
    assert foo["statusCode"] == 405 and json.loads(foo["body"])["error"]["code"] == "method_not_allowed"
    head = entry(rest_v1("/movies/858", method="HEAD"), lambda_context())
    assert head["statusCode"] == 200 and head["body"] == ""


HUGE = 3_500_000  # characters: one field fits in 6 MB, a movie's title plus display title does not


@pytest.fixture(scope="module")
def huge_title_artifact(tmp_path_factory) -> Path:
    """An artifact (as another loader might have written it) whose movie 1213 has a 3.5 MB title with
    quotes and control characters, which the Lambda's JSON escapes; 4973 has a 1 MB one, which fits."""
    movies = [m for m in MOVIES if m[0] not in (1213, 4973)]
    big = ('"\x01' * (HUGE // 2))  # every character escaped: 2 and 6 bytes in the Lambda payload
    movies.append((1213, big, big, 1990, ["Crime", "Drama"], None, None, 126, 4.25))
    fits = "Goodfellas " + "é" * 1_000_000
    movies.append((4973, fits, "Amélie", 2001, ["Comedy", "Romance"], None, None, 120, 4.18))
    return build_fixture_artifact(tmp_path_factory.mktemp("huge") / "latentlens.duckdb", movies=movies)


HUGE_PATHS = ["/movies/1213", "/movies/858/similar?n=10", "/movies/318/similar", "/recommendations?liked=858,318",
              "/movies?search=goodfellas", "/popular?n=100", "/popular?genre=Crime", "/users/1/recommendations",
              "/movies/4973", "/health"]


@pytest.mark.parametrize("path", HUGE_PATHS)
def test_an_artifact_with_a_huge_title_never_gives_a_response_over_6_mb(app_for, huge_title_artifact, path):
    entry = LambdaEntry(app_for(huge_title_artifact))
    response = entry(http_v2(path), lambda_context())
    payload = json.dumps(response, ensure_ascii=False).encode()  # as the Lambda runtime sends it
    assert len(payload) < LAMBDA_RESPONSE_LIMIT, (path, len(payload))
    body = json.loads(response["body"])
    if response["statusCode"] == 503:
        assert body["error"]["code"] == "response_too_large", body
    else:
        assert response["statusCode"] == 200, (path, response["statusCode"])


def test_huge_title_refused_only_where_it_is_served(app_for, huge_title_artifact):
    client = TestClient(app_for(huge_title_artifact), raise_server_exceptions=False)
    r = client.get("/movies/1213")
    assert r.status_code == 503 and r.json()["error"]["code"] == "response_too_large"
    assert r.headers["cache-control"] == "no-store"
    assert client.get("/movies/4973").status_code == 200  # 1 MB of 'é': 2 MB of UTF-8, within the limit
    assert client.get("/movies/2571").status_code == 200  # other movies are unaffected
    assert client.get("/movies/858/similar?n=1").json()["items"][0]["movie_id"] == 1221


def test_response_limit_is_a_setting(app_for, artifact):
    client = TestClient(app_for(artifact, max_response_bytes=2_000), raise_server_exceptions=False)
    assert client.get("/movies/858").status_code == 200
    r = client.get("/openapi.json")
    assert r.status_code == 503 and r.json()["error"]["code"] == "response_too_large"


# --- URLs over the limit: a JSON 431 whatever server runs the app ---------------------------------------------------

def asgi_get(app, path: bytes, query: bytes = b"", method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    """One request straight into the ASGI app (httpx refuses URLs of 64 KiB, so TestClient cannot send one)."""
    messages: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        messages.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
             "path": path.decode("latin-1"), "raw_path": path, "query_string": query, "root_path": "",
             "headers": [(b"host", b"127.0.0.1")], "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 1)}
    asyncio.run(app(scope, receive, send))
    start = next(m for m in messages if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, body


@pytest.mark.parametrize(("path", "query"), [(b"/popular", b"junk=" + b"x" * 70_000),
                                             (b"/movies/858/", b"junk=" + b"x" * 70_000),  # before the redirect
                                             (b"/" + b"x" * 70_000, b"")],
                         ids=["query", "query-of-a-slash-redirect", "path"])
def test_a_url_over_64_kib_is_a_json_431_in_process(app_for, artifact, path, query):
    app = app_for(artifact)
    status, headers, body = asgi_get(app, path, query)
    assert status == 431 and headers["content-type"] == "application/json" and "location" not in headers
    assert json.loads(body) == {"error": {"code": "header_too_large", "message": "the URL exceeds 65536 bytes"}}
    status, headers, body = asgi_get(app, path, query, method="HEAD")
    assert status == 431 and body == b"" and int(headers["content-length"]) > 0
    assert asgi_get(app, b"/popular", b"junk=" + b"x" * 65_000)[0] == 200  # under it: answered


def test_a_url_over_64_kib_is_a_json_431_through_lambda(app_for, artifact):
    entry = LambdaEntry(app_for(artifact))
    for event in (http_v2("/popular?junk=" + "x" * 70_000), rest_v1("/popular?junk=" + "x" * 70_000)):
        response = entry(event, lambda_context())
        assert response["statusCode"] == 431, response
        assert json.loads(response["body"])["error"]["code"] == "header_too_large"


def test_url_limit_is_a_setting(app_for, artifact):
    client = TestClient(app_for(artifact, max_url_bytes=2_000), raise_server_exceptions=False)
    assert client.get("/popular", params={"junk": "x" * 1_900}).status_code == 200
    r = client.get("/popular", params={"junk": "x" * 2_000})
    assert r.status_code == 431 and r.headers["cache-control"] == "no-store"
    assert r.json()["error"] == {"code": "header_too_large", "message": "the URL exceeds 2000 bytes"}


def test_the_app_s_url_limit_and_serve_s_head_limit_are_both_64_kib():
    """The app's URL limit and `latentlens serve`'s head limit are both the 64 KiB the docs state."""
    from latentlens.cli.serve_protocol import ServeLimits
    from latentlens.handler.settings import Settings

    assert Settings().max_url_bytes == ServeLimits().max_header_bytes == 64 * 1024
