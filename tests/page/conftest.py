"""A real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright) against `latentlens serve`
on 127.0.0.1 over the suite's embedded build. Every request the page makes is recorded."""

from __future__ import annotations

import shutil
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.reliability.serve_process import Server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Flags that keep Chromium from phoning home (updates, sync, QUIC probes) and work without a GPU or sandbox.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-default-apps", "--disable-extensions"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def chromium():
    """Module-scoped on purpose: Playwright's sync API keeps an event loop running in this thread while it is
    open, and Mangum (the Lambda tests) then cannot run its own; it is stopped when the page tests end."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed and could not be (make test installs it as root: "
                    "apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def server(embedded_build, tmp_path_factory):
    settings, _ = embedded_build
    srv = Server(settings.out, free_port(), tmp_path_factory.mktemp("page-serve"))
    try:
        srv.wait_healthy()
        yield srv
    finally:
        srv.stop()


class Recorder:
    """Every request a page made, so a test can assert none left 127.0.0.1. A request the page's
    Content-Security-Policy blocked (Chromium reports it as a request that failed with "csp") was
    never sent, so it is kept apart in `blocked`."""

    def __init__(self) -> None:
        self.urls: list[str] = []
        self.blocked: list[str] = []

    def __call__(self, request) -> None:
        self.urls.append(request.url)

    def failed(self, request) -> None:
        if request.failure == "csp":
            self.blocked.append(request.url)

    def outside(self, origin: str) -> list[str]:
        host = urlsplit(origin).netloc
        return [u for u in self.urls
                if urlsplit(u).scheme not in ("data", "blob", "about") and urlsplit(u).netloc != host
                and u not in self.blocked]


@pytest.fixture
def page(chromium, tmp_path):
    """A fresh context (own profile and storage) per test, its requests recorded; asserts at the end that
    no request went anywhere but the server under test."""
    context = chromium.new_context(viewport={"width": 1200, "height": 900})
    recorder = Recorder()
    context.on("request", recorder)
    context.on("requestfailed", recorder.failed)
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    pg.recorder = recorder
    # What Chromium reports about the Content-Security-Policy: its console lines, and the page's own
    # `securitypolicyviolation` events (an init script is the browser's, not subject to the policy).
    pg.csp_console = []
    pg.on("console", lambda m: pg.csp_console.append(m.text) if "Content Security Policy" in m.text else None)
    pg.add_init_script("window.__cspViolations = []; document.addEventListener('securitypolicyviolation', "
                       "e => window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));")
    yield pg
    context.close()


class StageGateway:
    """A stand-in for API Gateway's REST API on 127.0.0.1: every browser request to /<stage>/... becomes the
    committed SAM event (tests/events/rest_api_v1.json via tests.handler.events.rest_v1, stage in
    requestContext.path, not in `path`), answered by the real Lambda entry in this process; anything
    outside the stage is API Gateway's 403. What `sam local start-api` would do, without Docker."""

    def __init__(self, db: Path, tmp: Path, stage: str = "prod") -> None:
        import asyncio
        import base64
        import threading
        from concurrent.futures import ThreadPoolExecutor
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        from latentlens.handler.app import create_app
        from latentlens.handler.lambda_entry import LambdaEntry
        from latentlens.handler.settings import Settings
        from tests.handler.events import lambda_context, rest_v1

        self.app = create_app(Settings(db=str(db), tmp_dir=str(tmp)))
        entry = LambdaEntry(self.app)
        prefix = f"/{stage}"
        # One invocation at a time on one thread with its own event loop, as one Lambda container serves
        # them (Mangum runs the app on the thread's loop; Playwright holds the main thread's).
        self.container = ThreadPoolExecutor(1, initializer=lambda: asyncio.set_event_loop(asyncio.new_event_loop()))
        container = self.container

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if not (self.path == prefix or self.path.startswith(prefix + "/")):
                    return self._send(403, {"content-type": "application/json"}, b'{"message":"Forbidden"}')
                event = rest_v1(self.path[len(prefix):] or "/", headers={k.lower(): v for k, v in self.headers.items()})
                event["requestContext"]["stage"] = stage
                response = container.submit(entry, event, lambda_context()).result()
                body = response.get("body") or ""
                data = base64.b64decode(body) if response.get("isBase64Encoded") else body.encode()
                headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
                for k, v in (response.get("multiValueHeaders") or {}).items():
                    headers[k.lower()] = ", ".join(v)
                self._send(response["statusCode"], headers, data)

            def _send(self, status: int, headers: dict[str, str], data: bytes) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    if k not in ("content-length", "connection"):
                        self.send_header(k, v)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:  # quiet, like the rest of the suite
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.url = self.origin + prefix
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.container.shutdown()
        self.app.state.store.close()


@pytest.fixture(scope="module")
def stage_gateway(embedded_build, tmp_path_factory):
    settings, _ = embedded_build
    gateway = StageGateway(settings.out, tmp_path_factory.mktemp("stage-lambda"))
    try:
        yield gateway
    finally:
        gateway.stop()


class Gate:
    """The API made as slow as a test needs: Chromium's requests whose URL contains `part` are held (really
    pending in the browser, unanswered) until `release()` sends them on to the server or `fail()` drops them as a
    network error. No clock: the page is inspected while they wait, so nothing depends on how slow "slow" is."""

    def __init__(self, page, part: str) -> None:
        self.page, self.waiting = page, []
        page.route(lambda url: part in url, lambda route: self.waiting.append(route))

    def _held(self) -> list:
        """The held requests, once there is one (the route handler runs while Playwright waits, so poll through it)."""
        deadline = time.monotonic() + 15
        while not self.waiting:
            assert time.monotonic() < deadline, "the page sent no request through the gate"
            self.page.wait_for_timeout(10)
        return self.waiting

    def release(self) -> None:
        held = self._held()
        while held:
            held.pop(0).continue_()

    def fail(self) -> None:
        held = self._held()
        while held:
            held.pop(0).abort()


def network_log(page) -> list[tuple[int, str]]:
    """(status, URL) of every response Chromium's network stack reports for the page, from the DevTools protocol:
    unlike Playwright's request events it includes the browser's own /favicon.ico request."""
    log: list[tuple[int, str]] = []
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.on("Network.responseReceived", lambda e: log.append((e["response"]["status"], e["response"]["url"])))
    return log


def marker_boxes(page, items: str) -> list[tuple[float, float]]:
    """(top, bottom) of each list item's number (its ::marker box, which the DOM does not expose; the DevTools
    protocol lays it out), for the items matching the CSS selector `items`."""
    cdp = page.context.new_cdp_session(page)
    root = cdp.send("DOM.getDocument", {"depth": 0})["root"]["nodeId"]
    boxes = []
    for node in cdp.send("DOM.querySelectorAll", {"nodeId": root, "selector": items})["nodeIds"]:
        pseudo = cdp.send("DOM.describeNode", {"nodeId": node, "depth": 1})["node"].get("pseudoElements", [])
        marker = next(p for p in pseudo if p["pseudoType"] == "marker")
        quad = cdp.send("DOM.getBoxModel", {"backendNodeId": marker["backendNodeId"]})["model"]["border"]
        boxes.append((quad[1], quad[5]))
    cdp.detach()
    return boxes
