"""Small ASGI layers around the app: HTTP edge cases answered the same way under Lambda and uvicorn.

- `RelativeSlashRedirect`: `/movies/858/` is a 307 to `../858`, a relative reference, so the
  Location can never name another host (Starlette builds its redirect from the Host header), and it
  stays right under an API Gateway stage prefix (`/Prod/movies/858/` -> `/Prod/movies/858`).
- `HeadAsGet`: HEAD is answered as GET without the body (HTTP says a GET resource should take
  HEAD; FastAPI's routes take GET only, Starlette's /openapi.json took both).
- `ResponseLimit`: a body the Lambda response could not carry (6 MB) becomes a JSON 503
  `response_too_large` instead of an invocation error.
- `UrlLimit`: a URL over `max_url_bytes` (64 KiB) is a JSON 431 `header_too_large`, as `latentlens serve`
  answers a request head over its limit (latentlens/cli/serve_protocol.py), whatever server runs the app.
- `NoSniff`: `X-Content-Type-Options: nosniff` on every response the app sends (a JSON body is never run as a
  script or style). The answers made outside the app say it too: the 500 (handler.errors), the Lambda entry's
  400 (handler.lambda_entry) and serve's 400/408/431 (latentlens/cli/serve_protocol.py).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from urllib.parse import quote

logger = logging.getLogger("latentlens.handler")

NOSNIFF = (b"x-content-type-options", b"nosniff")
_JSON = [(b"content-type", b"application/json"), (b"cache-control", b"no-store"), NOSNIFF]


def _json_message(body: dict) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


async def _send_json(send, status: int, body: dict, headers: Sequence[tuple[bytes, bytes]] = (),
                     head: bool = False) -> None:
    """`head`: the answer to a HEAD, its headers (the length included) without the body."""
    data = _json_message(body)
    await send({"type": "http.response.start", "status": status,
                "headers": [*_JSON, (b"content-length", str(len(data)).encode()), *headers]})
    await send({"type": "http.response.body", "body": b"" if head else data})


class NoSniff:
    """`X-Content-Type-Options: nosniff` on every response (see the module docstring)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_nosniff(message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0].lower() != NOSNIFF[0]]
                message = {**message, "headers": [*headers, NOSNIFF]}
            await send(message)

        await self.app(scope, receive, send_nosniff)


class RelativeSlashRedirect:
    """One trailing slash after a segment: a relative redirect to the path without it (see the module docstring)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        segment = path[:-1].rsplit("/", 1)[-1] if len(path) > 1 and path.endswith("/") else ""
        if segment not in ("", ".", ".."):  # "//" and dot segments: no redirect, the router's 404
            location = "../" + quote(segment, safe="")
            query = scope.get("query_string") or b""
            if query:
                location += "?" + query.decode("latin-1")
            await _send_json(send, 307, {"redirect": location}, [(b"location", location.encode("latin-1"))])
            return
        await self.app(scope, receive, send)


def _allow_head(allow: bytes) -> bytes:
    """`GET` -> `GET, HEAD` (a route that takes GET takes HEAD; `POST` alone stays `POST`), in one order whatever
    the route's method set iterated in (Starlette's is a set)."""
    methods = {m.strip() for m in allow.split(b",") if m.strip()}
    if b"GET" in methods:
        methods.add(b"HEAD")
    return b", ".join(sorted(methods, key=lambda m: (m != b"GET", m)))


class HeadAsGet:
    """HEAD runs the GET route and sends its status and headers without the body; a 405 of a GET route allows
    HEAD too."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        head = scope["method"] == "HEAD"
        if head:
            scope = {**scope, "method": "GET"}

        async def send_head(message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 405:
                message = {**message, "headers": [(k, _allow_head(v)) if k.lower() == b"allow" else (k, v)
                                                  for k, v in message.get("headers", [])]}
            elif head and message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app(scope, receive, send_head)


def lambda_payload_size(body: bytes) -> int:
    """Bytes the body takes inside the Lambda response, where it is a JSON string (the runtime encodes it
    with ensure_ascii=False): escaped quotes and backslashes double, a control character becomes 6 bytes."""
    return len(json.dumps(body.decode("utf-8", "replace"), ensure_ascii=False).encode())


class ResponseLimit:
    """Buffer the body (Mangum buffers it anyway); over `max_bytes` as the Lambda would carry it: a JSON 503."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start: dict | None = None
        chunks: list[bytes] = []

        async def limited(message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = b"".join(chunks)
            # the exact measure only when the 6x worst case could exceed the limit: ~all answers skip it
            if len(body) * 6 > self.max_bytes and lambda_payload_size(body) > self.max_bytes:
                logger.warning("response to %s %s refused: %d bytes (%d in a Lambda response), limit %d",
                               scope["method"], scope.get("path", "")[:200], len(body), lambda_payload_size(body),
                               self.max_bytes)
                await _send_json(send, 503, {"error": {
                    "code": "response_too_large",
                    "message": f"the answer would exceed the {self.max_bytes:,}-byte response limit"}})
                return
            await send(start)
            await send({**message, "body": body, "more_body": False})

        await self.app(scope, receive, limited)


class UrlLimit:
    """A URL (path and query, as sent) over `max_bytes`: a JSON 431 before any route, redirect or parsing sees it."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            path = scope.get("raw_path") or scope.get("path", "").encode("utf-8", "surrogateescape")
            query = scope.get("query_string") or b""
            if len(path) + (len(query) + 1 if query else 0) > self.max_bytes:
                logger.warning("request to %s refused: URL over %d bytes", path[:200].decode("latin-1"), self.max_bytes)
                await _send_json(send, 431, {"error": {"code": "header_too_large",
                                                       "message": f"the URL exceeds {self.max_bytes} bytes"}},
                                 head=scope.get("method") == "HEAD")  # it runs before HeadAsGet
                return
        await self.app(scope, receive, send)
