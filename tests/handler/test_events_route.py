"""POST /events in-process over the real SQLite store: 202 with ids once stored, all or nothing, duplicates,
the key, the limits, no caching, nothing personal stored, 503 when off (and reads unchanged), the OpenAPI document."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from latentlens.handler.app import create_app
from latentlens.handler.events.model import MAX_BODY_BYTES, Person
from latentlens.handler.events.store import PUBLIC_MESSAGES
from tests.handler.conftest import make_settings

KEY = "k3y-for-tests_0123456789"
RATED = {"session_id": "s1", "movie_id": 858, "type": "rating", "rating": 4.5}
SINCE = datetime(2000, 1, 1, tzinfo=UTC)


@pytest.fixture
def events_db(tmp_path: Path) -> Path:
    return tmp_path / "events.sqlite"


def app_with(artifact: Path, tmp_path: Path, **overrides):
    return create_app(make_settings(artifact, tmp_path, **overrides))


@pytest.fixture
def app(artifact, tmp_path, events_db):
    made = app_with(artifact, tmp_path, events=str(events_db), events_key=KEY)
    yield made
    made.state.events.close()
    made.state.store.close()


@pytest.fixture
def client(app):
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def rows(path: Path) -> list[tuple]:
    """What the store file holds (nothing when nothing was ever stored: the file is made on the first write)."""
    if not path.exists():
        return []
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return conn.execute("SELECT * FROM events ORDER BY seq").fetchall()


def assert_error(r, status: int, code: str) -> str:
    assert r.status_code == status, r.text
    assert r.headers["cache-control"] == "no-store" and r.headers["content-type"] == "application/json"
    assert set(r.json()) == {"error"} and r.json()["error"]["code"] == code
    return r.json()["error"]["message"]


def test_one_event_is_stored_and_acknowledged_with_its_id(client, app, events_db):
    r = client.post("/events", json={**RATED, "event_id": "ev-1", "recommendation_id": "rec-9"})
    assert r.status_code == 202 and r.headers["cache-control"] == "no-store"
    assert r.json() == {"event_ids": ["ev-1"], "stored": 1, "duplicates": 0}
    [stored] = app.state.events.recent(Person(session_id="s1"), SINCE)
    assert (stored.event_id, stored.movie_id, stored.type, stored.rating, stored.recommendation_id) == (
        "ev-1", 858, "rating", 4.5, "rec-9")
    assert abs(stored.at.timestamp() - datetime.now(UTC).timestamp()) < 60  # no `at`: the server's time


def test_a_list_is_stored_whole_and_a_repeated_event_id_once(client, events_db):
    batch = [{**RATED, "event_id": "a"}, {"session_id": "s1", "movie_id": 1, "type": "click"},
             {"session_id": "s1", "movie_id": 1, "type": "impression", "at": "2025-06-01T10:00:00Z"}]
    r = client.post("/events", json=batch)
    assert r.status_code == 202
    ids = r.json()["event_ids"]
    assert ids[0] == "a" and len(set(ids)) == 3 and r.json()["stored"] == 3
    again = client.post("/events", json=[{**RATED, "event_id": "a"}, {**RATED, "event_id": "b"}])
    assert again.status_code == 202 and again.json() == {"event_ids": ["a", "b"], "stored": 1, "duplicates": 1}
    assert [row[2] for row in rows(events_db)] == [*ids, "b"]


def test_a_bad_event_stores_nothing_of_its_batch(client, events_db):
    client.post("/events", json=RATED)
    before = rows(events_db)
    batch = [RATED, {**RATED, "movie_id": 1213}, {**RATED, "rating": 4.3}]
    message = assert_error(client.post("/events", json=batch), 422, "invalid_event")
    assert message.startswith("body[2].rating: ")
    message = assert_error(client.post("/events", json=[RATED, {**RATED, "movie_id": 424242}]), 422, "unknown_movie")
    assert message == "body[1].movie_id: 424242 is not a movie of the served build"
    assert rows(events_db) == before


def test_user_events_need_the_key_compared_whole(client, events_db):
    user = {"user_id": 1, "movie_id": 858, "type": "click"}
    for headers in ({}, {"X-LatentLens-Key": KEY[:-1]}, {"X-LatentLens-Key": KEY + "x"}, {"X-LatentLens-Key": ""}):
        r = client.post("/events", json=[RATED, user], headers=headers)
        assert_error(r, 401, "events_key_invalid")
        assert r.headers["www-authenticate"].startswith("LatentLens-Key")
    assert rows(events_db) == []  # not even the session event of the batch
    r = client.post("/events", json=[RATED, user], headers={"x-latentlens-key": KEY})
    assert r.status_code == 202 and r.json()["stored"] == 2


def test_without_a_configured_key_only_session_events_are_taken(artifact, tmp_path, events_db):
    app = app_with(artifact, tmp_path, events=str(events_db))
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            user = {"user_id": 1, "movie_id": 858, "type": "click"}
            assert_error(client.post("/events", json=user, headers={"X-LatentLens-Key": KEY}), 403,
                         "user_events_disabled")
            assert client.post("/events", json=RATED).status_code == 202
    finally:
        app.state.store.close()
    assert len(rows(events_db)) == 1


def test_bodies_over_16_kib_and_bodies_not_json_are_refused(client, events_db):
    big = json.dumps([{**RATED, "event_id": "x" * 64, "recommendation_id": "r" * 64}] * 25).encode()
    big += b" " * (MAX_BODY_BYTES + 1 - len(big))
    assert len(big) == MAX_BODY_BYTES + 1
    assert_error(client.post("/events", content=big, headers={"content-type": "application/json"}), 413,
                 "body_too_large")

    def chunks():  # no Content-Length: sent chunked, refused once past the limit
        yield big[:10_000]
        yield big[10_000:]

    assert_error(client.post("/events", content=chunks(), headers={"content-type": "application/json"}), 413,
                 "body_too_large")
    fits = big[:-1]
    assert client.post("/events", content=fits, headers={"content-type": "application/json"}).status_code == 202
    assert_error(client.post("/events", content=json.dumps(RATED), headers={"content-type": "text/plain"}), 415,
                 "unsupported_media_type")
    assert_error(client.post("/events", data={"session_id": "s1"}), 415, "unsupported_media_type")
    assert len(rows(events_db)) == 1  # the one that fit (25 repeats of one event_id)


def test_nothing_personal_is_stored(client, events_db):
    headers = {"user-agent": "Mozilla/5.0 (Secret Browser 99)", "x-forwarded-for": "203.0.113.77",
               "cookie": "session=cookie-value-42", "referer": "https://example.org/private-page"}
    assert client.post("/events", json=RATED, headers=headers).status_code == 202
    with sqlite3.connect(events_db) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(events)")]
    assert columns == ["seq", "person", "event_id", "user_id", "session_id", "movie_id", "type", "rating",
                       "recommendation_id", "at_ms"]
    raw = b"".join(p.read_bytes() for p in events_db.parent.glob("events.sqlite*"))
    for secret in (b"Secret Browser", b"203.0.113.77", b"testclient", b"cookie-value-42", b"private-page"):
        assert secret not in raw


def test_with_no_store_events_are_a_503_and_reads_are_unchanged(artifact, tmp_path, client):
    off = app_with(artifact, tmp_path)
    try:
        with TestClient(off, raise_server_exceptions=False) as plain:
            for body in (RATED, [RATED], "junk"):
                r = plain.post("/events", json=body)
                assert assert_error(r, 503, "events_disabled") == PUBLIC_MESSAGES["events_disabled"]
            for url in ("/health", "/movies/858", "/users/1/recommendations?n=3", "/popular?n=2",
                        "/recommendations?ratings=858:5"):
                a, b = plain.get(url), client.get(url)
                assert a.status_code == b.status_code == 200
                assert a.json() == b.json()  # user 1 has no events yet
                if url.startswith("/users/"):  # events could change it: private where a store is configured
                    assert a.headers["cache-control"] == "public, max-age=3600" and a.headers["etag"]
                    assert b.headers["cache-control"] == "private, no-store" and "etag" not in b.headers
                else:
                    assert a.headers.get("etag") == b.headers.get("etag")
                    assert a.headers.get("cache-control") == b.headers.get("cache-control")
    finally:
        off.state.store.close()


def test_a_store_that_cannot_be_written_is_a_503_and_nothing_is_stored(artifact, tmp_path, events_db):
    app = app_with(artifact, tmp_path, events=str(events_db), events_busy_timeout_s=0.2)
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            assert client.post("/events", json=RATED).status_code == 202
            holder = sqlite3.connect(events_db, isolation_level=None)
            holder.execute("BEGIN EXCLUSIVE")  # another process holding the write lock
            message = assert_error(client.post("/events", json=[{**RATED, "event_id": "lost"}]), 503,
                                   "events_unavailable")
            assert "events.sqlite" not in message and "locked" not in message  # the details are in the log
            holder.execute("ROLLBACK")
            holder.close()
            r = client.post("/events", json=[{**RATED, "event_id": "lost"}])
            assert r.status_code == 202 and r.json()["stored"] == 1
    finally:
        app.state.events.close()
        app.state.store.close()


def test_an_unavailable_artifact_is_a_503_with_its_reason(tmp_path, events_db):
    app = create_app(make_settings(tmp_path / "missing.duckdb", tmp_path, events=str(events_db)))
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            assert_error(client.post("/events", json=RATED), 503, "artifact_missing")
    finally:
        app.state.store.close()
    assert rows(events_db) == []


def test_events_are_post_only_and_no_route_returns_stored_events(client, app):
    for method in ("GET", "HEAD", "PUT", "DELETE"):
        r = client.request(method, "/events")
        assert r.status_code == 405 and r.headers["allow"] == "POST"
    paths = app.openapi()["paths"]
    assert [(p, sorted(ops)) for p, ops in paths.items() if "event" in p] == [("/events", ["post"])]


def test_the_openapi_document_describes_the_route(app):
    spec = app.openapi()
    op = spec["paths"]["/events"]["post"]
    assert set(op["responses"]) == {"202", "401", "403", "413", "415", "422", "503"}
    assert op["responses"]["202"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/EventsAccepted"}
    body = op["requestBody"]
    assert body["required"] is True
    one, many = body["content"]["application/json"]["schema"]["anyOf"]
    assert many["maxItems"] == 25 and many["items"] == one and one["additionalProperties"] is False
    assert [p["name"] for p in op["parameters"]] == ["X-LatentLens-Key"]
    assert set(spec["components"]["schemas"]["EventsAccepted"]["properties"]) == {"event_ids", "stored", "duplicates"}
