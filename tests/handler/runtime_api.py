"""A stand-in for Lambda's Runtime API on 127.0.0.1: it hands queued events to a runtime interface client (AWS's
`awslambdaric`, run here as a process or in the Lambda container image) and records what the client posts back."""

from __future__ import annotations

import json
import queue
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

PREFIX = "/2018-06-01/runtime"


class RuntimeApiStub(ThreadingHTTPServer):
    """Hands out queued events on /invocation/next and records what the runtime posts back."""

    daemon_threads = True

    def __init__(self, events: list[dict]) -> None:
        super().__init__(("127.0.0.1", 0), _StubHandler)
        self.events: queue.Queue[tuple[str, dict]] = queue.Queue()
        for i, event in enumerate(events):
            self.events.put((f"req-{i}", event))
        self.results: queue.Queue[tuple[str, str, dict]] = queue.Queue()  # (kind, request id, body)
        self.done = threading.Event()


class _StubHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # the runtime client's libcurl speaks HTTP/1.1 and keeps the connection
    server: RuntimeApiStub

    def log_message(self, *args) -> None:
        pass

    def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path != f"{PREFIX}/invocation/next":
            self._reply(404)
            return
        try:
            request_id, event = self.server.events.get_nowait()
        except queue.Empty:
            self.server.done.wait()  # no more work: park the runtime until the test ends
            self._reply(500)
            return
        self._reply(200, json.dumps(event).encode(), {
            "Lambda-Runtime-Aws-Request-Id": request_id,
            "Lambda-Runtime-Deadline-Ms": "9999999999999",
            "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:123456789012:function:latentlens",
        })

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        parts = self.path[len(PREFIX):].strip("/").split("/")  # invocation/<id>/response | init/error
        kind = parts[-1] if parts[0] == "invocation" else "init-error"
        request_id = parts[1] if parts[0] == "invocation" else ""
        self._reply(202, b'{"status":"OK"}')
        self.server.results.put((kind, request_id, json.loads(body or b"{}")))


def next_result(stub: RuntimeApiStub) -> tuple[str, str, dict]:
    try:
        return stub.results.get(timeout=30)
    except queue.Empty:
        pytest.fail("the runtime client posted nothing within 30 s")
