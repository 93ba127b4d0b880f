"""The Lambda entry answers every event with JSON and a log line, never an exception (Lambda's 502):
malformed API Gateway events are a 400 `bad_event`, foreign ones a 400 `unsupported_event`, and an
EventBridge scheduled event warms the container (opens the artifact) and answers 200."""

from __future__ import annotations

import json
import logging

import pytest

from latentlens.handler.app import create_app
from latentlens.handler.lambda_entry import LambdaEntry
from tests.handler.conftest import make_settings
from tests.handler.events import http_v2, lambda_context, rest_v1

LOGGER = "latentlens.handler"


@pytest.fixture
def entry(settings):
    app = create_app(settings)
    yield LambdaEntry(app)
    app.state.store.close()


def without(event: dict, *keys: str) -> dict:
    for key in keys:
        event.pop(key)
    return event


def with_(event: dict, **fields) -> dict:
    event.update(fields)
    return event


def header(event: dict, name: str, value) -> dict:
    event["headers"][name] = value
    if "multiValueHeaders" in event:
        event["multiValueHeaders"][name] = [value]
    return event


S3_NOTIFICATION = {"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
                                "eventName": "ObjectCreated:Put",
                                "s3": {"bucket": {"name": "latentlens-artifacts"}, "object": {"key": "a.duckdb"}}}]}
SCHEDULED = {"version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa", "detail-type": "Scheduled Event",
             "source": "aws.events", "account": "123456789012", "time": "2026-12-01T00:00:00Z", "region": "us-east-1",
             "resources": ["arn:aws:events:us-east-1:123456789012:rule/latentlens-warmer"], "detail": {}}
OTHER_EVENTBRIDGE = {**SCHEDULED, "detail-type": "EC2 Instance State-change Notification", "source": "aws.ec2"}

MALFORMED = {
    "empty_event": lambda: {},
    "no_request_context_v1": lambda: without(rest_v1("/health"), "requestContext"),
    "no_request_context_v2": lambda: without(http_v2("/health"), "requestContext"),
    "rest_v1_without_http_method": lambda: without(rest_v1("/health"), "httpMethod"),
    "v2_headers_null": lambda: with_(http_v2("/health"), headers=None),
    "v2_raw_query_string_null": lambda: with_(http_v2("/health"), rawQueryString=None),
    "v1_invalid_base64_body": lambda: with_(rest_v1("/health"), isBase64Encoded=True, body="!!not base64!!"),
    "v2_invalid_base64_body": lambda: with_(http_v2("/health"), isBase64Encoded=True, body="YQ"),
    "v1_lone_surrogate_in_header": lambda: header(rest_v1("/health"), "x-note", "a\ud800b"),
    "v2_lone_surrogate_in_header": lambda: header(http_v2("/health"), "x-note", "a\udfffb"),
    "v2_lone_surrogate_in_header_name": lambda: header(http_v2("/health"), "x-\ud800", "v"),
    "v1_lone_surrogate_in_path": lambda: rest_v1("/movies/\ud800"),
    "v2_lone_surrogate_in_path": lambda: http_v2("/health/\ud800"),
    "v1_lone_surrogate_in_query": lambda: with_(rest_v1("/movies"), queryStringParameters={"search": "\ud800"},
                                                multiValueQueryStringParameters={"search": ["\ud800"]}),
    "v2_cookies_not_strings": lambda: with_(http_v2("/health"), cookies=[1, {"a": "b"}]),
    "v2_cookies_not_a_list": lambda: with_(http_v2("/health"), cookies="a=b"),
    "v1_headers_not_an_object": lambda: with_(rest_v1("/health"), headers=["host"]),
    "v1_body_not_a_string": lambda: with_(rest_v1("/health"), body=42),
    # fields of the right type that Mangum still cannot translate: the catch-all answers them
    "host_with_two_colons": lambda: header(http_v2("/health"), "host", "a:b:c"),
    "over_long_numeric_forwarded_port": lambda: header(http_v2("/health"), "x-forwarded-port", "9" * 5_000),
    "s3_notification": lambda: S3_NOTIFICATION,
    "other_eventbridge_event": lambda: OTHER_EVENTBRIDGE,
    "not_an_object": lambda: ["GET", "/health"],
}


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_and_foreign_events_get_a_json_400_and_a_log_line(entry, case, caplog):
    caplog.set_level(logging.WARNING, logger=LOGGER)
    response = entry(MALFORMED[case](), lambda_context("req-" + case))
    assert response["statusCode"] == 400, response
    assert response["headers"]["content-type"] == "application/json"
    assert response["headers"]["x-content-type-options"] == "nosniff"
    assert response["isBase64Encoded"] is False
    body = json.loads(response["body"])
    assert set(body) == {"error"} and body["error"]["code"] in ("bad_event", "unsupported_event"), body
    assert len(response["body"]) < 500  # bounded: the event is not echoed
    assert any("req-" + case in r.getMessage() and r.levelno >= logging.WARNING for r in caplog.records), \
        [r.getMessage() for r in caplog.records]
    json.dumps(response)  # what the runtime does with it: must not raise


@pytest.mark.parametrize("case,code", [("s3_notification", "unsupported_event"), ("empty_event", "unsupported_event"),
                                       ("v2_headers_null", "bad_event"), ("rest_v1_without_http_method", "bad_event")])
def test_the_400_says_which_kind_of_problem(entry, case, code):
    body = json.loads(entry(MALFORMED[case](), lambda_context())["body"])
    assert body["error"]["code"] == code


def test_the_message_names_the_bad_field(entry):
    body = json.loads(entry(MALFORMED["v2_raw_query_string_null"](), lambda_context())["body"])
    assert "rawQueryString" in body["error"]["message"]


@pytest.mark.parametrize("kind", ["rest_v1", "http_v2"])
def test_well_formed_events_with_null_optional_fields_are_still_served(entry, kind):
    """REST v1 may send `headers: null` and null query parameters (no headers, no query): those are answered."""
    event = rest_v1("/popular?n=2") if kind == "rest_v1" else http_v2("/popular?n=2")
    if kind == "rest_v1":
        event.update(headers=None, multiValueHeaders=None)
    else:
        event.update(cookies=["a=b", "c=d"])
    response = entry(event, lambda_context())
    assert response["statusCode"] == 200 and len(json.loads(response["body"])["items"]) == 2


def test_eventbridge_scheduled_warmer_opens_the_artifact_and_answers_200(settings, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    app = create_app(settings)
    entry = LambdaEntry(app)
    try:
        assert app.state.store._artifact.current is None  # nothing opened at import or construction
        response = entry(SCHEDULED, lambda_context("warm-1"))
        assert response["statusCode"] == 200
        body = json.loads(response["body"])
        assert body["status"] == "ok" and body["warmed"] is True and len(body["artifact_sha256"]) == 64
        assert app.state.store._artifact.current is not None  # the next request finds it open
        assert any("warm-1" in r.getMessage() and "warmer" in r.getMessage() for r in caplog.records)
    finally:
        app.state.store.close()


def test_warmer_with_a_missing_artifact_answers_503_without_raising(tmp_path):
    app = create_app(make_settings(tmp_path / "absent.duckdb", tmp_path))
    response = LambdaEntry(app)(SCHEDULED, lambda_context())
    assert response["statusCode"] == 503
    body = json.loads(response["body"])
    assert body["warmed"] is False and body["error"]["code"] == "artifact_missing"
    assert str(tmp_path) not in response["body"]
