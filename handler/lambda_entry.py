"""The Lambda entry in front of Mangum: every event gets a JSON answer and a log line, never an exception.

Mangum raises on events it cannot translate (no `requestContext`, `headers: null`, invalid base64,
a lone surrogate, ...), and Lambda turns a raised exception into a 502 without a body. So each
event is sorted first:

- an EventBridge scheduled event is a *warmer*: it opens the artifact (downloading it in S3 mode)
  so the container is warm for the next request, and answers 200 with what /health would say;
- an API Gateway event (REST v1 or HTTP API v1/v2) whose fields have the documented types goes
  to Mangum; one whose fields do not is a 400 `bad_event` naming the field;
- anything else (an S3 notification, another service's event, `{}`) is a 400 `unsupported_event`.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from typing import Any

from fastapi import FastAPI
from mangum import Mangum

from latentlens.handler.artifact import ArtifactUnavailable
from latentlens.handler.public import public_message

logger = logging.getLogger("latentlens.handler")

_JSON_HEADERS = {"content-type": "application/json", "cache-control": "no-store", "x-content-type-options": "nosniff"}


class BadEvent(Exception):
    """An event that claims to be API Gateway's but has a field of the wrong type or encoding."""


def answer(status: int, body: dict) -> dict[str, Any]:
    """A response both API Gateway payload versions accept (and any other invoker can read as JSON)."""
    return {"statusCode": status, "headers": dict(_JSON_HEADERS), "body": json.dumps(body), "isBase64Encoded": False}


def error(status: int, code: str, message: str) -> dict[str, Any]:
    return answer(status, {"error": {"code": code, "message": message}})


def is_warmer(event: Any) -> bool:
    return (isinstance(event, dict) and event.get("source") == "aws.events"
            and event.get("detail-type") == "Scheduled Event")


def is_api_gateway(event: Any) -> bool:
    """What Mangum would take for an API Gateway event (its HTTPGateway or APIGateway handler)."""
    return isinstance(event, dict) and "requestContext" in event and ("version" in event or "resource" in event)


def _text(value: Any, where: str, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if value is None:
        raise BadEvent(f"{where} is missing or null")
    if not isinstance(value, str):
        raise BadEvent(f"{where} must be a string, not {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise BadEvent(f"{where} is not valid UTF-8 (a lone surrogate)") from None


def _mapping(value: Any, where: str, *, optional: bool, multi: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, dict):
        raise BadEvent(f"{where} must be an object, not {'null' if value is None else type(value).__name__}")
    for key, item in value.items():
        _text(key, f"{where} name")
        key = key[:40]
        if multi:
            if not isinstance(item, list):
                raise BadEvent(f"{where}[{key!r}] must be a list")
            for one in item:
                _text(one, f"{where}[{key!r}]")
        else:
            _text(item, f"{where}[{key!r}]")


def _body(event: dict) -> None:
    body = event.get("body")
    _text(body, "body", optional=True)
    flag = event.get("isBase64Encoded", False)
    if not isinstance(flag, bool):
        raise BadEvent("isBase64Encoded must be true or false")
    if flag and body:
        try:
            base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise BadEvent("body is marked isBase64Encoded but is not valid base64") from None


def check_api_gateway(event: dict) -> None:
    """Raise BadEvent unless every field Mangum reads has the type API Gateway documents."""
    context = event["requestContext"]
    if not isinstance(context, dict):
        raise BadEvent("requestContext must be an object")
    if event.get("version") == "2.0":
        http = context.get("http")
        if not isinstance(http, dict):
            raise BadEvent("requestContext.http must be an object")
        _text(http.get("method"), "requestContext.http.method")
        _text(http.get("path"), "requestContext.http.path")
        _text(http.get("sourceIp"), "requestContext.http.sourceIp", optional=True)
        _mapping(event.get("headers"), "headers", optional=False)
        _text(event.get("rawQueryString"), "rawQueryString")
        cookies = event.get("cookies")
        if cookies is not None:
            if not isinstance(cookies, list):
                raise BadEvent("cookies must be a list of strings")
            for cookie in cookies:
                _text(cookie, "cookies[]")
    else:  # REST API, or HTTP API payload 1.0: the same fields
        _text(event.get("httpMethod"), "httpMethod")
        _text(event.get("path"), "path")
        identity = context.get("identity")
        if identity is not None and not isinstance(identity, dict):
            raise BadEvent("requestContext.identity must be an object")
        _mapping(event.get("headers"), "headers", optional=True)
        _mapping(event.get("multiValueHeaders"), "multiValueHeaders", optional=True, multi=True)
        _mapping(event.get("queryStringParameters"), "queryStringParameters", optional=True)
        _mapping(event.get("multiValueQueryStringParameters"), "multiValueQueryStringParameters", optional=True,
                 multi=True)
    _body(event)


def _describe(event: Any) -> str:
    """Enough to recognise an event in the log, bounded: its type and first top-level keys."""
    if isinstance(event, dict):
        keys = [str(k)[:40] for k in list(event)[:12]]
        return f"object with keys {keys}" + (" ..." if len(event) > 12 else "")
    return type(event).__name__


class LambdaEntry:
    """`latentlens.handler.app.handler`: sorts each event, then answers it (see the module docstring)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.mangum = Mangum(app, lifespan="off")

    def __call__(self, event: Any, context: Any) -> dict[str, Any]:
        request_id = getattr(context, "aws_request_id", "-")
        if is_warmer(event):
            return self.warm(request_id)
        if not is_api_gateway(event):
            logger.warning("request %s: unsupported Lambda event (%s), answered 400", request_id, _describe(event))
            return error(400, "unsupported_event", "this function answers API Gateway HTTP events only")
        try:
            check_api_gateway(event)
            return self.mangum(event, context)
        except BadEvent as exc:
            logger.warning("request %s: malformed API Gateway event, answered 400: %s", request_id, exc)
            return error(400, "bad_event", f"malformed API Gateway event: {exc}")
        except Exception:  # Mangum's own translation failed (the app's errors never get here: it answers them)
            logger.exception("request %s: API Gateway event Mangum cannot translate (%s), answered 400", request_id,
                             _describe(event))
            return error(400, "bad_event", "malformed API Gateway event")

    def warm(self, request_id: str) -> dict[str, Any]:
        """Open (in S3 mode: download and verify) the artifact now, so the next request finds it open.
        Never raises: Lambda would count a raised error as a failed invocation and retry the event."""
        try:
            art = self.app.state.store.artifact()
        except ArtifactUnavailable as exc:
            logger.warning("request %s: warmer: artifact unavailable (%s)", request_id, exc.reason)
            return answer(503, {"status": "unavailable", "warmed": False,
                                "error": {"code": exc.reason, "message": public_message(exc.reason)}})
        except Exception:  # a store failing in a way it should have named: logged, still a JSON answer
            logger.exception("request %s: warmer: unexpected error opening the artifact", request_id)
            return answer(503, {"status": "unavailable", "warmed": False,
                                "error": {"code": "internal_error", "message": "internal error"}})
        logger.info("request %s: warmer: artifact open", request_id)
        return answer(200, {"status": "ok", "warmed": True, "artifact_sha256": art.sha256})
