"""A/B serving: with an experiment configured, each user or session gets their arm's lists (the challenger's
where the artifact has one for them) and every answer says `variant`; the same from the Lens, from a table
published to DynamoDB (moto's server) with a DynamoDB event store, and through the Lambda entry."""

from __future__ import annotations

import json
import logging

import boto3
import pytest
from mangum import Mangum

import latentlens
from latentlens.handler.app import create_app
from latentlens.handler.events.model import Person
from latentlens.handler.experiments import Experiment
from latentlens.handler.settings import Settings
from tests.api.same_answers import assert_same
from tests.handler.conftest import ids, make_settings, running_moto
from tests.handler.dynamo_support import publish_to
from tests.handler.events import http_v2, lambda_context, rest_v1
from tests.handler.fixture_artifact import (
    CHALLENGER_BECAUSE,
    CHALLENGER_RECS,
    EXPERIMENT,
    SESSION_USERS,
    USER_RECS,
    build_fixture_artifact,
)
from tests.handler.test_events_dynamodb import create_events_table

KEY = "k3y-for-tests_0123456789"
LEARNED = next(iter(SESSION_USERS))
CHALLENGERS = {"/users/1/recommendations", "/users/424242/recommendations", f"/sessions/{LEARNED}/recommendations"}
CHAMPIONS = {"/users/2/recommendations", "/users/3/recommendations", "/sessions/new-session/recommendations"}


def test_the_fixture_experiment_splits_people_as_the_tests_say():
    experiment = Experiment(EXPERIMENT["experiment"], EXPERIMENT["experiment_share"], EXPERIMENT["experiment_salt"])
    arms = {url: experiment.arm(Person(user_id=int(url.split("/")[2])) if url.startswith("/users") else
                                Person(session_id=url.split("/")[2])) for url in CHALLENGERS | CHAMPIONS}
    assert {url for url, arm in arms.items() if arm == "challenger"} == CHALLENGERS


def test_each_person_gets_their_arms_list_and_variant(serve):
    client = serve(**EXPERIMENT)
    user1 = client.get("/users/1/recommendations").json()
    assert user1["variant"] == "challenger" and user1["source"] == "personal"
    assert ids(user1) == [movie_id for movie_id, _ in CHALLENGER_RECS[1]]
    assert [b["movie_id"] for b in user1["items"][0]["because"]] == [m for m, _, _ in CHALLENGER_BECAUSE[1][2571]]
    user2 = client.get("/users/2/recommendations").json()
    assert user2["variant"] == "champion" and ids(user2) == [movie_id for movie_id, _ in USER_RECS[2]]
    stranger = client.get("/users/424242/recommendations?n=3").json()  # challenger arm, no list: the fallback
    assert stranger["variant"] == "challenger" and stranger["source"] == "popular" and ids(stranger) == [318, 2571, 1]
    learned = client.get(f"/sessions/{LEARNED}/recommendations").json()
    assert learned["variant"] == "challenger"
    assert ids(learned) == [movie_id for movie_id, _ in CHALLENGER_RECS[SESSION_USERS[LEARNED]]]
    for url in CHAMPIONS:
        assert client.get(url).json()["variant"] == "champion", url
    for url in ("/movies/858/similar", "/recommendations?liked=858", "/recommendations?ratings=1:4"):
        assert client.get(url).json()["variant"] == "champion", url  # nobody's list: no arm
    again = serve(**EXPERIMENT)  # another app (a cold container): the same arms, the same answers
    for url in CHALLENGERS | CHAMPIONS:
        assert again.get(url).json() == client.get(url).json(), url
    assert client.get("/users/1/recommendations?genre=comedy").json()["items"][0]["movie_id"] == 4973


def test_the_challenger_arm_folds_events_too(serve, tmp_path):
    client = serve(events=str(tmp_path / "events.sqlite"), events_key=KEY, **EXPERIMENT)
    r = client.post("/events", json={"user_id": 1, "movie_id": 2571, "type": "rating", "rating": 4.5},
                    headers={"X-LatentLens-Key": KEY})
    assert r.status_code == 202
    body = client.get("/users/1/recommendations").json()
    assert body["variant"] == "challenger" and body["source"] == "personal+events"
    assert 2571 not in ids(body) and set(ids(body)) >= {4973, 1213, 318, 1}  # the challenger's rest, and 1 (0.4)


def test_with_no_challenger_lists_everyone_is_the_champion_and_it_is_logged_once(serve, tmp_path, caplog):
    (tmp_path / "plain").mkdir()
    client = serve(build_fixture_artifact(tmp_path / "plain" / "latentlens.duckdb", challenger=False), **EXPERIMENT)
    caplog.set_level(logging.WARNING, logger="latentlens.handler")
    for _ in range(3):
        for url in CHALLENGERS | CHAMPIONS:
            assert client.get(url).json()["variant"] == "champion", url
    assert ids(client.get("/users/1/recommendations").json()) == [movie_id for movie_id, _ in USER_RECS[1]]
    told = [r.getMessage() for r in caplog.records if "no challenger lists" in r.getMessage()]
    assert len(told) == 1 and "fixture-ab" in told[0]


def test_a_cached_persons_list_changes_its_etag_with_the_experiment(serve):
    plain, split, resalted = serve(), serve(**EXPERIMENT), serve(**{**EXPERIMENT, "experiment_salt": "h"})
    build = plain.get("/health").headers["etag"]
    assert plain.get("/users/2/recommendations").headers["etag"] == build
    etags = {client.get("/users/2/recommendations").headers["etag"] for client in (plain, split, resalted)}
    assert len(etags) == 3
    assert split.get("/users/2/recommendations").headers["cache-control"] == "public, max-age=3600"
    assert split.get("/movies/858/similar").headers["etag"] == build  # nobody's: the build's own


def test_an_empty_experiment_setting_is_none():
    assert Settings(db="x", experiment="").experiment is None  # template.yaml's default: none runs


def test_the_lens_gives_each_person_the_same_arm_and_list(serve):
    client = serve(**EXPERIMENT)
    settings = client.app.state.settings  # type: ignore[attr-defined]
    with latentlens.open(settings.db, tmp_dir=settings.tmp_dir, **EXPERIMENT) as lens:
        for url in sorted(CHALLENGERS | CHAMPIONS) + ["/users/1/recommendations?n=2&genre=drama"]:
            assert assert_same(client, lens, url) == 200, url
        assert lens.recommend(1).variant == "challenger" and lens.recommend_session("new-session").variant == "champion"


def test_through_the_lambda_entry(artifact, tmp_path):
    """SAM-generated API Gateway events: a session's rating, then its list without the movie, private."""
    app = create_app(make_settings(artifact, tmp_path, events=str(tmp_path / "events.sqlite"), **EXPERIMENT))
    handler = Mangum(app, lifespan="off")
    try:
        for kind, event in (("rest_v1", rest_v1), ("http_v2", http_v2)):
            session = f"lambda-{kind.replace('_', '-')}"
            body = json.dumps({"session_id": session, "movie_id": 2571, "type": "rating", "rating": 5}).encode()
            posted = handler(event("/events", {"content-type": "application/json"}, "POST", body), lambda_context())
            assert posted["statusCode"] == 202, posted
            answer = handler(event(f"/sessions/{session}/recommendations?n=5"), lambda_context())
            headers = {k.lower(): v for k, v in (answer.get("headers") or {}).items()}
            assert answer["statusCode"] == 200 and headers["cache-control"] == "private, no-store"
            listed = json.loads(answer["body"])
            assert listed["source"] == "events" and 2571 not in ids(listed) and ids(listed) == [1, 318]
    finally:
        app.state.store.close()
        app.state.events.close()


@pytest.mark.usefixtures("fake_aws_credentials")
def test_dynamodb_serves_the_same_arms_and_folds_as_duckdb(artifact, tmp_path, serve):
    """The fixture published to moto's DynamoDB server, events in a DynamoDB table there; the same events posted
    to a DuckDB app with a SQLite store: every person's answer is the same, ids included."""
    with running_moto() as endpoint:
        ddb = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=endpoint)
        publish_to(ddb, artifact, tmp_path)
        create_events_table(ddb, "events")
        aws = {"dynamodb_endpoint_url": endpoint, "dynamodb_region": "us-east-1"}
        dyn = serve("dynamodb://latentlens-test", events="dynamodb://events", events_key=KEY, **aws, **EXPERIMENT)
        duck = serve(artifact, events=str(tmp_path / "events.sqlite"), events_key=KEY, **EXPERIMENT)
        events = [{"user_id": 1, "movie_id": 4973, "type": "rating", "rating": 4.0},
                  {"user_id": 2, "movie_id": 1221, "type": "rating", "rating": 5.0},
                  {"session_id": LEARNED, "movie_id": 858, "type": "rating", "rating": 5.0},
                  {"session_id": "new-session", "movie_id": 2571, "type": "rating", "rating": 1.0},
                  {"session_id": "new-session", "movie_id": 1213, "type": "rating", "rating": 4.5}]
        batch = [{**e, "event_id": f"e{i}", "at": f"2026-12-01T00:00:0{i}Z"} for i, e in enumerate(events)]
        for client in (dyn, duck):
            assert client.post("/events", json=batch, headers={"X-LatentLens-Key": KEY}).status_code == 202
        for url in sorted(CHALLENGERS | CHAMPIONS) + ["/users/2/recommendations?genre=drama&n=3"]:
            a, b = dyn.get(url), duck.get(url)
            assert (a.status_code, a.json()) == (b.status_code, b.json()), url
            assert a.json()["source"] != "personal" or url == "/users/3/recommendations", url  # events folded
        assert dyn.get("/users/1/recommendations").json()["variant"] == "challenger"
