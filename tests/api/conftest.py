"""A Lens and an HTTP client over one private copy of the hand-made fixture artifact (tests/handler)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import latentlens
from latentlens.handler.app import create_app
from tests.handler.conftest import make_settings
from tests.handler.fixture_artifact import build_fixture_artifact


@pytest.fixture(scope="module")
def fixture_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_fixture_artifact(tmp_path_factory.mktemp("api-artifact") / "latentlens.duckdb")


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # DuckDB opens one file with one configuration per process: the app and the Lens share tmp_dir
    return tmp_path_factory.mktemp("api-scratch")


@pytest.fixture(scope="module")
def http(fixture_db: Path, scratch: Path):
    app = create_app(make_settings(fixture_db, scratch))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c
    app.state.store.close()


@pytest.fixture(scope="module")
def lens(fixture_db: Path, scratch: Path):
    with latentlens.open(fixture_db, tmp_dir=str(scratch / "lltmp")) as opened:
        yield opened
