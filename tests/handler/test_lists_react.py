"""Lists that react: a person's rating events since the build, in a real SQLite event store, are folded into their
list from the first answer after the 202; every list answer carries `recommendation_id` and `variant`; a person's
list is `private, no-store` while events can change it; a failing event store serves the stored list."""

from __future__ import annotations

import logging
import re
import sqlite3
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import latentlens
from latentlens.handler import models
from latentlens.handler.audience import Audience, built_at
from latentlens.handler.events.model import EARLIEST, Person
from latentlens.handler.events.sqlite_store import SQLiteEventStore
from tests.api.same_answers import assert_same
from tests.handler.conftest import ids
from tests.handler.fixture_artifact import BUILD_INFO, SESSION_USERS, USER_RECS, build_fixture_artifact

KEY = "k3y-for-tests_0123456789"
AS_SERVER = {"X-LatentLens-Key": KEY}
ID = re.compile(r"r[0-9a-f]{24}")
LEARNED = next(iter(SESSION_USERS))  # a session the fixture's build trained as user 3


@pytest.fixture
def events_db(tmp_path: Path) -> Path:
    return tmp_path / "events.sqlite"


def rate(client: TestClient, movie_id: int, stars: float, **person) -> None:
    r = client.post("/events", json={**person, "movie_id": movie_id, "type": "rating", "rating": stars},
                    headers=AS_SERVER if "user_id" in person else {})
    assert r.status_code == 202, r.text


def test_every_list_answer_carries_an_id_and_the_champion_variant(serve):
    client = serve()
    for url in ("/users/1/recommendations", "/recommend/1", "/users/424242/recommendations",
                f"/sessions/{LEARNED}/recommendations", "/sessions/new-session/recommendations",
                "/recommendations?liked=858", "/recommendations?ratings=858:5,1:1", "/movies/858/similar"):
        body = client.get(url).json()
        assert body["variant"] == "champion" and ID.fullmatch(body["recommendation_id"]), url
    for url in ("/popular", "/movies/858", "/movies?search=amelie"):  # no list of picks: nothing to quote in events
        assert "recommendation_id" not in client.get(url).json()


def test_the_id_is_derived_so_a_cached_body_keeps_naming_the_list_it_holds(serve, tmp_path):
    """The same build and request give the same id (so a body under the build's ETag never changes); another
    list, other parameters or another build give another."""
    client = serve()
    first = client.get("/movies/858/similar?n=3")
    assert client.get("/movies/858/similar?n=3").json() == first.json()
    assert client.get("/movies/858/similar?n=3", headers={"If-None-Match": first.headers["etag"]}).status_code == 304
    seen = {client.get(url).json()["recommendation_id"] for url in (
        "/movies/858/similar?n=3", "/movies/858/similar?n=4", "/movies/1221/similar?n=3", "/users/1/recommendations",
        "/users/2/recommendations", "/users/1/recommendations?genre=Drama", "/recommendations?ratings=858:5,1213:4",
        "/recommendations?ratings=1213:4,858:5", "/recommendations?liked=858")}
    assert len(seen) == 9
    assert client.get("/recommend/1").json() == client.get("/users/1/recommendations").json()
    (tmp_path / "other").mkdir()
    other = build_fixture_artifact(tmp_path / "other" / "latentlens.duckdb",
                                   build_info={**BUILD_INFO, "created_at": "2026-11-23T00:00:00Z"})
    assert serve(other).get("/movies/858/similar?n=3").json()["recommendation_id"] != first.json()["recommendation_id"]


def test_a_rated_movie_is_gone_from_the_first_answer_after_the_202(serve, events_db):
    client = serve(events=str(events_db), events_key=KEY)
    before = client.get("/users/1/recommendations").json()
    assert before["source"] == "personal" and ids(before) == [318, 2571, 1221, 4973, 1]
    rate(client, 318, 5.0, user_id=1)
    after = models.UserRecommendations.model_validate(client.get("/users/1/recommendations").json())
    assert after.source == "personal+events" and [i.movie_id for i in after.items] == [2571, 1221, 4973, 1]
    # 318's neighbours, 858 and 1213, are movies user 1 rated in the build (its stored `because` names them): not
    # brought in
    assert after.recommendation_id != before["recommendation_id"]
    assert client.get("/recommend/1").json() == after.model_dump(mode="json")
    assert client.get("/users/2/recommendations").json()["source"] == "personal"  # one person's events only


def test_a_liked_movie_brings_its_neighbours_in_by_rank_fusion(serve, events_db):
    client = serve(events=str(events_db), events_key=KEY)
    rate(client, 1221, 5.0, user_id=2)  # user 2's stored list: 1, 4973, 2571
    body = client.get("/users/2/recommendations").json()
    # the fold of 1221 (5 stars, the latest): 2023 0.8 + the recent part 0.5 x 0.9 x 0.9 / 0.9, 858 0.9, 1213 0.5;
    # 4973 (recent, 0.15) is one user 2 rated in the build. Each list's rank r adds 1 / (60 + r); a tie goes to the
    # fold's pick
    assert body["source"] == "personal+events" and ids(body) == [2023, 1, 858, 4973, 1213, 2571]
    assert [item["score"] for item in body["items"]] == pytest.approx([1 / 61, 1 / 61, 1 / 62, 1 / 62, 1 / 63, 1 / 63])
    assert [(b["movie_id"], b["rating"], b["kind"]) for b in body["items"][0]["because"]] == [(1221, 5.0, "recent")]
    assert [b["movie_id"] for b in body["items"][1]["because"]] == [4973]  # the stored reason, kept


def test_a_pick_in_both_lists_ranks_above_either_alone(serve, events_db):
    client = serve(events=str(events_db))
    rate(client, 858, 5.0, session_id=LEARNED)  # user 3 of the build: 1213, 2023, 318
    body = client.get(f"/sessions/{LEARNED}/recommendations").json()
    # the fold of 858: 1221 0.9, 2023 0.7, 1213 0.6, 318 0.5; the stored list's three are all in it
    assert body["source"] == "personal+events" and ids(body) == [1213, 2023, 318, 1221]
    assert [item["score"] for item in body["items"]] == pytest.approx(
        [1 / 61 + 1 / 63, 1 / 62 + 1 / 62, 1 / 63 + 1 / 64, 1 / 61])
    assert [(b["movie_id"], b["kind"]) for b in body["items"][0]["because"]] == [(858, "similar")]  # once


def test_a_low_rating_sinks_the_stored_picks_near_it_and_the_latest_stars_count(serve, events_db):
    client = serve(events=str(events_db), events_key=KEY)
    rate(client, 2571, 1.0, user_id=1)  # 2571's neighbours: 1 (0.4), 318 (0.3), now below zero
    body = client.get("/users/1/recommendations").json()
    assert ids(body) == [1221, 4973, 318, 1] and body["source"] == "personal+events"
    rate(client, 2571, 5.0, user_id=1)  # rated again: the latest stars count, and 1 and 318 are in both lists
    assert ids(client.get("/users/1/recommendations").json()) == [318, 1, 1221, 4973]


def test_a_sessions_events_alone_are_the_ratings_method(serve, events_db):
    client = serve(events=str(events_db))
    assert client.get("/sessions/new-session/recommendations").json()["source"] == "popular"
    for movie_id, stars in ((1213, 4.0), (858, 5.0), (1, 1.0), (1221, 5.0)):
        rate(client, movie_id, stars, session_id="new-session")
    body = client.get("/sessions/new-session/recommendations?n=4").json()
    same = client.get("/recommendations?ratings=1213:4,858:5,1:1,1221:5&n=4").json()
    assert body["source"] == "events" and body["items"] == same["items"]
    assert ids(body) == [2023, 318]  # only these two sum above zero
    drama = client.get("/sessions/new-session/recommendations?genre=thriller").json()
    assert ids(drama) == [2023]


def test_only_low_ratings_leave_the_popular_list_without_those_movies(serve, events_db):
    client = serve(events=str(events_db))
    rate(client, 318, 1.0, session_id="grumpy")
    body = client.get("/sessions/grumpy/recommendations?n=3").json()
    assert body["source"] == "popular" and ids(body) == [2571, 1, 858]  # popular: 318, 2571, 1, 858, ...


def test_a_sessions_learned_list_and_bad_session_ids(serve):
    client = serve()
    body = client.get(f"/sessions/{LEARNED}/recommendations").json()
    assert body["source"] == "personal" and ids(body) == [m for m, _ in USER_RECS[SESSION_USERS[LEARNED]]]
    assert body["session_id"] == LEARNED and "user_id" not in body  # the mapping stays inside
    assert client.get("/sessions/new-session/recommendations?n=2").json()["source"] == "popular"
    for bad in ("a%20b", "x" * 65, "caf%C3%A9", "a.b"):
        r = client.get(f"/sessions/{bad}/recommendations")
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_parameter", bad
    with latentlens.open(client.app.state.settings.db, tmp_dir=client.app.state.settings.tmp_dir) as lens:  # type: ignore[attr-defined]
        with pytest.raises(latentlens.InvalidParameter, match="session_id"):
            lens.recommend_session("a b")


def test_a_persons_list_is_private_no_store_while_events_can_change_it(serve, events_db):
    on, off = serve(events=str(events_db)), serve()
    for url in ("/users/1/recommendations", "/recommend/1", f"/sessions/{LEARNED}/recommendations"):
        r = on.get(url)
        assert r.headers["cache-control"] == "private, no-store" and "etag" not in r.headers, url
        assert on.get(url, headers={"If-None-Match": off.get(url).headers["etag"]}).status_code == 200
        cached = off.get(url)
        assert cached.headers["cache-control"] == "public, max-age=3600" and cached.headers["etag"], url
        assert off.get(url, headers={"If-None-Match": cached.headers["etag"]}).status_code == 304
        assert r.json() == cached.json()  # no events yet: the same list
    for url in ("/movies/858/similar", "/recommendations?liked=858", "/popular"):  # nobody's: the build's ETag
        assert on.get(url).headers["etag"] == off.get(url).headers["etag"] == off.get("/health").headers["etag"]


def test_an_unreadable_event_store_serves_the_stored_list_and_logs(serve, tmp_path, caplog):
    foreign = tmp_path / "mlflow.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE runs (id INTEGER)")
    client = serve(events=str(foreign))
    caplog.set_level(logging.WARNING, logger="latentlens.handler")
    r = client.get("/users/1/recommendations")
    assert r.status_code == 200 and r.json()["source"] == "personal" and ids(r.json()) == [318, 2571, 1221, 4973, 1]
    assert r.headers["cache-control"] == "private, no-store"
    assert any("event store unreadable" in rec.getMessage() and "another SQLite database" in rec.getMessage()
               for rec in caplog.records)
    assert client.get(f"/sessions/{LEARNED}/recommendations").status_code == 200


def test_after_a_failed_read_the_store_is_left_alone_for_the_retry_interval(artifact, tmp_path, caplog):
    """An outage costs one read (its timeouts) and one log line per interval, not every request."""
    foreign = tmp_path / "other.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE t (x)")
    now = [100.0]
    store = SQLiteEventStore(str(foreign))
    audience = Audience(store, retry_interval_s=2.0, clock=lambda: now[0])
    caplog.set_level(logging.WARNING, logger="latentlens.handler")
    with latentlens.open(artifact, tmp_dir=str(tmp_path / "lltmp")) as lens:
        art = lens._store.artifact()
        person = Person(user_id=1)
        for _ in range(5):
            assert audience.rating_events(art, person) == []
        assert sum("event store unreadable" in r.getMessage() for r in caplog.records) == 1
        now[0] += 2.5
        foreign.unlink()  # the file is gone: a new, empty event store is made there
        assert audience.rating_events(art, person) == []
        assert sum("event store unreadable" in r.getMessage() for r in caplog.records) == 1
        store.put([_rating(person, 858, 4.5)])
        assert [(e.movie_id, e.rating) for e in audience.rating_events(art, person)] == [(858, 4.5)]
    store.close()


def _rating(person: Person, movie_id: int, stars: float, at: str = "2026-12-01T00:00:00+00:00"):
    from datetime import datetime

    from latentlens.handler.events.model import StoredEvent

    return StoredEvent(event_id=f"e{movie_id}-{stars}", person=person, movie_id=movie_id, type="rating", rating=stars,
                       recommendation_id=None, at=datetime.fromisoformat(at))


def test_only_events_since_the_build_are_folded(serve, events_db):
    store = SQLiteEventStore(str(events_db))
    person = Person(session_id="old-and-new")
    # the fixture build's created_at is 2026-11-22: a rating before it is one the build could have learned from
    store.put([_rating(person, 1221, 5.0, at="2026-11-21T23:59:59+00:00"), _rating(person, 2571, 5.0)])
    store.close()
    body = serve(events=str(events_db)).get("/sessions/old-and-new/recommendations").json()
    assert body["source"] == "events" and ids(body) == [1, 318]  # 2571's neighbours only: 1221 did not count
    assert built_at("2026-11-22T00:00:00Z").isoformat() == "2026-11-22T00:00:00+00:00"
    assert built_at("not a time") == built_at("2026-11-22T00:00:00") == EARLIEST  # every event counts then


def test_the_lens_folds_the_same_events_as_the_routes(serve, events_db, tmp_path):
    client = serve(events=str(events_db), events_key=KEY)
    rate(client, 318, 5.0, user_id=1)
    rate(client, 858, 5.0, session_id=LEARNED)
    rate(client, 2571, 4.5, session_id="fresh")
    settings = client.app.state.settings  # type: ignore[attr-defined]
    with latentlens.open(settings.db, tmp_dir=settings.tmp_dir, events=str(events_db)) as lens:
        for url in ("/users/1/recommendations", "/users/1/recommendations?n=2&genre=drama", "/users/2/recommendations",
                    f"/sessions/{LEARNED}/recommendations", "/sessions/fresh/recommendations", "/movies/858/similar",
                    "/sessions/no-one/recommendations?n=3", "/recommendations?ratings=858:5"):
            assert assert_same(client, lens, url) == 200, url
        assert lens.recommend(1).source == "personal+events"
        assert lens.recommend_session("fresh").source == "events"
