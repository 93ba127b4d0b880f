"""The Lambda entry with real API Gateway events (SAM-generated, REST v1 and HTTP API v2): whole responses."""

from __future__ import annotations

import json

import pytest
from mangum import Mangum

from latentlens.handler.app import create_app
from tests.handler.events import http_v2, lambda_context, rest_v1

EVENTS = {"rest_v1": rest_v1, "http_v2": http_v2}


@pytest.fixture
def lambda_handler(settings):
    app = create_app(settings)
    yield Mangum(app, lifespan="off")
    app.state.store.close()


def headers_of(response: dict) -> dict[str, str]:
    """Both payload versions' headers, lower-cased (v1 may also use multiValueHeaders)."""
    out = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    for k, v in (response.get("multiValueHeaders") or {}).items():
        out[k.lower()] = ",".join(v)
    return out


def body_of(response: dict) -> dict:
    assert response["isBase64Encoded"] is False
    return json.loads(response["body"])


@pytest.mark.parametrize("kind", EVENTS)
def test_movie_lookup(lambda_handler, settings, kind):
    response = lambda_handler(EVENTS[kind]("/movies/858"), lambda_context())
    assert response["statusCode"] == 200
    headers = headers_of(response)
    assert headers["content-type"] == "application/json"
    assert headers["etag"].startswith('"') and len(headers["etag"]) == 26
    assert headers["cache-control"] == f"public, max-age={settings.cache_max_age}"
    assert body_of(response)["title"] == "Godfather, The (1972)"


@pytest.mark.parametrize("kind", EVENTS)
def test_query_parameters_reach_the_app(lambda_handler, kind):
    response = lambda_handler(EVENTS[kind]("/recommendations?liked=858,1213&n=2"), lambda_context())
    assert response["statusCode"] == 200
    body = body_of(response)
    assert [i["movie_id"] for i in body["items"]] == [1221, 318]


@pytest.mark.parametrize("kind", EVENTS)
def test_accented_search(lambda_handler, kind):
    response = lambda_handler(EVENTS[kind]("/movies?search=am%C3%A9lie&limit=5"), lambda_context())
    assert response["statusCode"] == 200
    assert [i["display_title"] for i in body_of(response)["items"]] == ["Amélie"]


@pytest.mark.parametrize("kind", EVENTS)
def test_unknown_user_falls_back_to_popular(lambda_handler, kind):
    body = body_of(lambda_handler(EVENTS[kind]("/users/77/recommendations?n=1"), lambda_context()))
    assert body["source"] == "popular" and len(body["items"]) == 1


@pytest.mark.parametrize("kind", EVENTS)
def test_recommend_is_the_short_form_of_user_recommendations(lambda_handler, kind):
    short = lambda_handler(EVENTS[kind]("/recommend/1?n=3&genre=drama"), lambda_context())
    long = lambda_handler(EVENTS[kind]("/users/1/recommendations?n=3&genre=drama"), lambda_context())
    assert short["statusCode"] == long["statusCode"] == 200
    assert body_of(short) == body_of(long) and body_of(short)["source"] == "personal"
    assert headers_of(short)["etag"] == headers_of(long)["etag"]
    bad = lambda_handler(EVENTS[kind]("/recommend/0"), lambda_context())
    assert bad["statusCode"] == 422 and body_of(bad)["error"]["code"] == "invalid_parameter"


@pytest.mark.parametrize("kind", EVENTS)
def test_if_none_match_gives_304(lambda_handler, kind):
    first = lambda_handler(EVENTS[kind]("/popular"), lambda_context())
    etag = headers_of(first)["etag"]
    second = lambda_handler(EVENTS[kind]("/popular", headers={"If-None-Match": etag}), lambda_context())
    assert second["statusCode"] == 304
    assert second["body"] == ""
    assert headers_of(second)["etag"] == etag


@pytest.mark.parametrize("kind", EVENTS)
@pytest.mark.parametrize("url,status,code", [
    ("/movies/5", 404, "movie_not_found"),
    ("/popular?n=101", 422, "invalid_parameter"),
    ("/nothing/here", 404, "not_found"),
])
def test_errors_are_json(lambda_handler, kind, url, status, code):
    response = lambda_handler(EVENTS[kind](url), lambda_context())
    assert response["statusCode"] == status
    assert headers_of(response)["content-type"] == "application/json"
    assert headers_of(response)["cache-control"] == "no-store"
    assert body_of(response)["error"]["code"] == code


@pytest.mark.parametrize("kind", EVENTS)
def test_missing_artifact_is_503_through_lambda(tmp_path, kind):
    from tests.handler.conftest import make_settings

    handler = Mangum(create_app(make_settings(tmp_path / "absent.duckdb", tmp_path)), lifespan="off")
    response = handler(EVENTS[kind]("/health"), lambda_context())
    assert response["statusCode"] == 503
    assert body_of(response)["error"]["code"] == "artifact_missing"


def test_events_are_the_committed_sam_templates():
    """Guard against hand-written events: the overrides keep SAM's requestContext and version markers."""
    v1 = rest_v1("/health")
    v2 = http_v2("/health")
    assert v1["requestContext"]["resourcePath"] == "/{proxy+}" and "version" not in v1
    assert v2["version"] == "2.0" and v2["routeKey"] == "$default"
    assert v1["body"] is None and v2["body"] is None


@pytest.mark.parametrize("kind", EVENTS)
def test_docs_find_the_schema_under_the_stage_prefix(lambda_handler, kind):
    """The page a browser opens at https://host/<stage>/docs loads the schema from the same prefix."""
    import re
    from urllib.parse import urljoin

    event = EVENTS[kind]("/docs")
    response = lambda_handler(event, lambda_context())
    assert response["statusCode"] == 200 and "swagger-ui" in response["body"]
    schema_url = re.search(r"""url: ['"]([^'"]+)['"]""", response["body"])[1]
    context = event["requestContext"]
    public_path = context["path"] if kind == "rest_v1" else "/docs"  # REST: the stage is in the URL
    page = f"https://api.example{public_path}"
    assert urljoin(page, schema_url) == page.removesuffix("/docs") + "/openapi.json"
    schema = lambda_handler(EVENTS[kind]("/openapi.json"), lambda_context())
    assert schema["statusCode"] == 200 and json.loads(schema["body"])["info"]["title"] == "LatentLens"


@pytest.mark.parametrize("kind", EVENTS)
def test_the_page_and_the_docs_assets_through_lambda_under_the_stage_prefix(lambda_handler, kind):
    """GET / answers the page; its API calls and the docs' assets are relative, so from https://host/<stage>/
    they resolve under the stage, where the Lambda answers them."""
    import re
    from urllib.parse import urljoin

    response = lambda_handler(EVENTS[kind]("/"), lambda_context())
    assert response["statusCode"] == 200 and headers_of(response)["content-type"].startswith("text/html")
    assert not response.get("isBase64Encoded") and "Rate a few movies" in response["body"]
    docs = lambda_handler(EVENTS[kind]("/docs"), lambda_context())["body"]
    asset = re.search(r"""src=['"]([^'"]+swagger-ui-bundle\.js)['"]""", docs)[1]
    stage = "/Prod" if kind == "rest_v1" else ""
    assert urljoin(f"https://api.example{stage}/docs", asset) == f"https://api.example{stage}/docs/assets/swagger-ui-bundle.js"
    js = lambda_handler(EVENTS[kind]("/docs/assets/swagger-ui-bundle.js"), lambda_context())
    assert js["statusCode"] == 200 and "javascript" in headers_of(js)["content-type"]
