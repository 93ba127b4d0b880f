"""A real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright) against `latentlens serve`
on 127.0.0.1 over the suite's embedded build. Every request the page makes is recorded."""

from __future__ import annotations

import shutil
import socket
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
        return [u for u in self.urls if urlsplit(u).scheme not in ("data", "blob", "about") and urlsplit(u).netloc != host
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
    yield pg
    context.close()
