"""Acceptance of the lookup API on the real embedded build: every endpoint answers."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from latentlens.handler.app import create_app
from latentlens.handler.settings import Settings


@pytest.fixture(scope="module")
def client(embedded_build, tmp_path_factory):
    settings, _ = embedded_build
    app = create_app(Settings(db=str(settings.out), tmp_dir=str(tmp_path_factory.mktemp("lltmp"))))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c
    app.state.store.close()


def test_health_reports_the_build(client, embedded_build) -> None:
    _, result = embedded_build
    r = client.get("/health")
    assert r.status_code == 200
    assert result.topn_champion in r.text and "ml-latest-small" in r.text


def test_if_you_liked_the_godfather(client) -> None:
    r = client.get("/recommendations", params={"liked": "858", "n": 10})
    assert r.status_code == 200
    items = r.json()["items"]
    assert "Godfather: Part II, The (1974)" in [m["title"] for m in items]
    assert 858 not in [m["movie_id"] for m in items]


def test_known_user_gets_personal_list_without_rated_movies(client, embedded_build) -> None:
    from latentlens.build.data.loader import load_movielens

    settings, _ = embedded_build
    rated = set(load_movielens(settings.data_dir).ratings.filter(user_id=1)["movie_id"].to_list())
    r = client.get("/users/1/recommendations", params={"n": 20})
    assert r.status_code == 200 and r.json()["source"] == "personal"
    ids = [m["movie_id"] for m in r.json()["items"]]
    assert len(ids) == 20 and not rated & set(ids)


@pytest.mark.parametrize("path", [
    "/users/999999/recommendations?n=5",
    "/movies/858",
    "/movies/858/similar?n=5",
    "/movies?search=the%20godfather&limit=5",
    "/popular?n=5",
    "/popular?genre=Comedy&n=5",
])
def test_every_endpoint_answers(client, path) -> None:
    r = client.get(path)
    assert r.status_code == 200, r.text
    assert r.headers["etag"] and "max-age" in r.headers["cache-control"]


def test_search_finds_the_godfather_first(client) -> None:
    r = client.get("/movies", params={"search": "the godfather", "limit": 5})
    assert r.json()["items"][0]["movie_id"] == 858
