"""Fixtures of the reliability suite: the small hand-made artifact, an app over it, free loopback ports."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from latentlens.handler.app import create_app
from latentlens.handler.settings import Settings
from tests.handler.fixture_artifact import build_fixture_artifact


@pytest.fixture(scope="session")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/handler's fixture artifact (known answers) with its sha256 manifest."""
    return build_fixture_artifact(tmp_path_factory.mktemp("reliability-artifact") / "latentlens.duckdb")


def make_settings(db: Path | str, tmp: Path, **overrides) -> Settings:
    """Explicit db and scratch dir; failed opens are retried on the next request."""
    return Settings(**{"db": str(db), "tmp_dir": str(tmp / "lltmp"), "retry_interval_s": 0, **overrides})


@pytest.fixture
def app_for(tmp_path: Path):
    """Factory of apps (one per simulated container); their stores are closed afterwards."""
    made = []

    def make(db: Path | str, **overrides):
        app = create_app(make_settings(db, tmp_path, **overrides))
        made.append(app)
        return app

    yield make
    for app in made:
        app.state.store.close()
        if app.state.events is not None:
            app.state.events.close()


@pytest.fixture
def client(app_for, artifact: Path) -> TestClient:
    with TestClient(app_for(artifact), raise_server_exceptions=False) as c:
        yield c


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A listener that accepts every connection and never sends a byte."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join(timeout=5)
    for conn in held:
        conn.close()
    listener.close()
