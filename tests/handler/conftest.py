"""Shared fixtures: the fixture artifact (built once per session) and an app/client over it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from latentlens.handler.app import create_app
from latentlens.handler.settings import Settings
from tests.handler.fixture_artifact import build_fixture_artifact


@pytest.fixture(scope="session")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_fixture_artifact(tmp_path_factory.mktemp("artifact") / "latentlens.duckdb")


def make_settings(db: Path | str, tmp: Path, **overrides) -> Settings:
    """Settings for tests: explicit db and scratch dir, and failed opens retried on the next request."""
    values = {"db": str(db), "tmp_dir": str(tmp / "lltmp"), "retry_interval_s": 0, **overrides}
    return Settings(**values)


@pytest.fixture
def settings(artifact: Path, tmp_path: Path) -> Settings:
    return make_settings(artifact, tmp_path)


@pytest.fixture
def client(settings: Settings):
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c
    app.state.store.close()


@pytest.fixture
def apps():
    """Apps a test made itself: each one's store is closed at the end (temp files, connections)."""
    made = []
    yield made
    for app in made:
        app.state.store.close()


def client_of(apps: list, app) -> TestClient:
    """A client over `app`, which the `apps` fixture closes after the test."""
    apps.append(app)
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture
def fixture_copy(artifact: Path, tmp_path: Path) -> Path:
    """A private copy of the fixture artifact (with its manifest) that a test may change."""
    from tests.handler.dynamo_support import copy_artifact

    return copy_artifact(artifact, tmp_path / "artifact")


@contextmanager
def running_moto() -> Iterator[str]:
    """moto's server mode on a free port of 127.0.0.1 (it stands in for DynamoDB and S3): its endpoint URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def serve(artifact: Path, tmp_path: Path) -> Iterator[Callable[..., TestClient]]:
    """Clients over the fixture artifact with the given settings; stores and event stores closed afterwards."""
    opened: list[TestClient] = []

    def make(db: Path | str = artifact, **overrides) -> TestClient:
        client = TestClient(create_app(make_settings(db, tmp_path, **overrides)), raise_server_exceptions=False)
        client.__enter__()  # runs the lifespan: its shutdown closes the event store
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)
        client.app.state.store.close()  # type: ignore[attr-defined]


def ids(body: dict) -> list[int]:
    """The movie ids of a list answer, in its order."""
    return [item["movie_id"] for item in body["items"]]
