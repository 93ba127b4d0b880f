"""API Gateway events for handler tests: the SAM-generated JSON in tests/events with per-case overrides."""

from __future__ import annotations

import base64
import copy
import json
from functools import cache
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import parse_qsl, urlencode

EVENTS = Path(__file__).resolve().parent.parent / "events"

# Replaces the templates' dummy headers: what a JSON client behind API Gateway sends.
BASE_HEADERS = {"accept": "application/json", "host": "1234567890.execute-api.us-east-1.amazonaws.com",
                "user-agent": "latentlens-tests", "x-forwarded-proto": "https"}


@cache
def _template(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


def lambda_context(request_id: str = "test-request") -> SimpleNamespace:
    return SimpleNamespace(aws_request_id=request_id, function_name="latentlens", memory_limit_in_mb=1024,
                           invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:latentlens",
                           get_remaining_time_in_millis=lambda: 30_000)


def _split(path_and_query: str) -> tuple[str, list[tuple[str, str]]]:
    path, _, query = path_and_query.partition("?")
    return path, parse_qsl(query, keep_blank_values=True)


def _body(body: bytes | None, base64_body: bool) -> tuple[str | None, bool]:
    if body is None:
        return None, False
    return (base64.b64encode(body).decode(), True) if base64_body else (body.decode(), False)


def rest_v1(url: str, headers: dict[str, str] | None = None, method: str = "GET", body: bytes | None = None,
            base64_body: bool = False) -> dict:
    """A REST API (payload 1.0) proxy event for `url` (path plus optional query string), with an optional body
    (as API Gateway sends it: text, or base64 with isBase64Encoded)."""
    event = copy.deepcopy(_template("rest_api_v1.json"))
    path, pairs = _split(url)
    hdrs = {**BASE_HEADERS, **(headers or {})}
    multi: dict[str, list[str]] = {}
    for k, v in pairs:
        multi.setdefault(k, []).append(v)
    text, encoded = _body(body, base64_body)
    event.update(
        path=path, httpMethod=method, body=text, isBase64Encoded=encoded,
        headers=hdrs, multiValueHeaders={k: [v] for k, v in hdrs.items()},
        queryStringParameters={k: v[-1] for k, v in multi.items()} or None,
        multiValueQueryStringParameters=multi or None,
        pathParameters={"proxy": path.lstrip("/")},
    )
    event["requestContext"].update(path="/prod" + path, httpMethod=method)
    return event


def http_v2(url: str, headers: dict[str, str] | None = None, method: str = "GET", body: bytes | None = None,
            base64_body: bool = False) -> dict:
    """An HTTP API (payload 2.0) event for `url` (path plus optional query string), with an optional body."""
    event = copy.deepcopy(_template("http_api_v2.json"))
    path, pairs = _split(url)
    joined: dict[str, list[str]] = {}
    for k, v in pairs:
        joined.setdefault(k, []).append(v)
    text, encoded = _body(body, base64_body)
    event.update(
        rawPath=path, rawQueryString=urlencode(pairs), body=text, isBase64Encoded=encoded,
        headers={**BASE_HEADERS, **{k.lower(): v for k, v in (headers or {}).items()}},
        queryStringParameters={k: ",".join(v) for k, v in joined.items()} or None,
    )
    event.pop("pathParameters", None)
    event["requestContext"]["http"].update(path=path, method=method)
    return event
