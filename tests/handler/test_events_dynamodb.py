"""The DynamoDB event store against moto's server, in the table template.yaml declares: conditional puts, a
transaction per batch, a person's latest events through the index, the TTL; and POST /events through the Lambda
entry with SAM-generated API Gateway events (REST v1 and HTTP API v2, plain and base64 bodies)."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest

from latentlens.cli.serve import ServeError, check_events
from latentlens.handler.app import create_app
from latentlens.handler.events import dynamodb_store as layout
from latentlens.handler.events.dynamodb_store import DynamoDBEventStore
from latentlens.handler.events.model import Person, StoredEvent
from latentlens.handler.events.store import EventStore, EventStoreUnavailable
from latentlens.handler.lambda_entry import LambdaEntry
from latentlens.handler.settings import Settings
from tests.handler.conftest import make_settings, running_moto
from tests.handler.events import http_v2, lambda_context, rest_v1
from tests.infra.cfn_yaml import load_template
from tests.infra.conftest import TEMPLATE

pytestmark = pytest.mark.usefixtures("fake_aws_credentials")

KEY = "k3y-for-tests_0123456789"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
ALICE = Person(session_id="alice")
_names = itertools.count()


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    with running_moto() as url:
        yield url


def create_events_table(client, name: str) -> None:
    """The table as template.yaml's EventsTable declares it (key, index, billing, TTL)."""
    props = load_template(TEMPLATE)["Resources"]["EventsTable"]["Properties"]
    client.create_table(TableName=name, BillingMode=props["BillingMode"], KeySchema=props["KeySchema"],
                        AttributeDefinitions=props["AttributeDefinitions"],
                        LocalSecondaryIndexes=props["LocalSecondaryIndexes"])
    client.update_time_to_live(TableName=name, TimeToLiveSpecification=props["TimeToLiveSpecification"])


@pytest.fixture
def table(moto_server) -> tuple[str, object]:
    client = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=moto_server)
    name = f"latentlens-events-{next(_names)}"
    create_events_table(client, name)
    return name, client


def settings_for(moto_server: str, tmp_path: Path, db: Path | str = "/nonexistent.duckdb", **overrides) -> Settings:
    return make_settings(db, tmp_path, dynamodb_endpoint_url=moto_server, dynamodb_region="us-east-1", **overrides)


def event(event_id: str, seconds: float = 0, kind: str = "click", person: Person = ALICE) -> StoredEvent:
    return StoredEvent(event_id=event_id, person=person, movie_id=858, type=kind,  # type: ignore[arg-type]
                       rating=3.5 if kind == "rating" else None, recommendation_id=None,
                       at=T0 + timedelta(seconds=seconds))


def items(client, name: str) -> list[dict]:
    return client.scan(TableName=name, ConsistentRead=True)["Items"]


def test_puts_are_conditional_so_a_repeat_is_stored_once(table, moto_server, tmp_path):
    name, client = table
    store = DynamoDBEventStore(name, settings_for(moto_server, tmp_path))
    assert isinstance(store, EventStore)
    store.check()
    assert store.put([event("a")]) == [True]
    assert store.put([event("a")]) == [False]
    # a batch is one transaction; what is already there, or repeated in the batch, is a duplicate
    assert store.put([event("b"), event("a"), event("c"), event("b")]) == [True, False, True, False]
    assert store.put([event("a"), event("b")]) == [False, False]
    assert sorted(i["event_id"]["S"] for i in items(client, name)) == ["a", "b", "c"]


def test_an_item_holds_ids_movie_type_rating_time_and_its_expiry_only(table, moto_server, tmp_path):
    name, client = table
    store = DynamoDBEventStore(name, settings_for(moto_server, tmp_path, events_retention_days=30))
    rated = StoredEvent(event_id="r", person=Person(user_id=5), movie_id=1, type="rating", rating=4.5,
                        recommendation_id="rec-1", at=T0)
    before = int(time.time())
    store.put([rated])
    [item] = items(client, name)
    assert set(item) == {"person", "event_id", "movie_id", "type", "type_at", "at_ms", "rating",
                         "recommendation_id", "expires_at"}
    assert item["person"] == {"S": "user:5"} and item["type_at"] == {"S": f"rating#{rated.at_ms:015d}"}
    assert before + 30 * 86_400 <= int(item["expires_at"]["N"]) <= int(time.time()) + 30 * 86_400
    assert layout.stored_of(item) == rated


def test_recent_reads_the_latest_of_each_type_since_a_time(table, moto_server, tmp_path):
    name, _ = table
    store = DynamoDBEventStore(name, settings_for(moto_server, tmp_path))
    kinds = ["click", "rating", "impression"]
    for start in range(0, 90, 25):
        store.put([event(f"e{i:03d}", seconds=i, kind=kinds[i % 3]) for i in range(start, min(start + 25, 90))])
    store.put([event("bob", person=Person(session_id="bob"), seconds=1000)])
    latest = store.recent(ALICE, T0)
    assert [e.event_id for e in latest] == [f"e{i:03d}" for i in range(40, 90)]
    ratings = store.recent(ALICE, T0 + timedelta(seconds=60), types=["rating"], limit=5)
    assert [e.event_id for e in ratings] == [f"e{i:03d}" for i in (73, 76, 79, 82, 85, 88)][-5:]
    assert all(e.rating == 3.5 and e.type == "rating" for e in ratings)
    assert store.recent(ALICE, T0 + timedelta(hours=1)) == []
    assert [e.event_id for e in store.recent(Person(session_id="bob"), T0)] == ["bob"]


def test_scan_pages_through_the_whole_table_filtered_by_type(table, moto_server, tmp_path, monkeypatch):
    name, _ = table
    monkeypatch.setattr("latentlens.handler.events.dynamodb_store.SCAN_PAGE", 10)  # items read per page
    store = DynamoDBEventStore(name, settings_for(moto_server, tmp_path))
    kinds = ["click", "rating", "impression"]
    people = [ALICE, Person(session_id="bob"), Person(user_id=7)]
    for start in range(0, 75, 25):
        store.put([event(f"e{i:03d}", seconds=i, kind=kinds[i % 3], person=people[i % 2 + (i > 60)])
                   for i in range(start, start + 25)])
    everything = list(store.scan())
    assert sorted(e.event_id for e in everything) == [f"e{i:03d}" for i in range(75)]
    ratings = list(store.scan(types=["rating"]))
    assert sorted(e.event_id for e in ratings) == [f"e{i:03d}" for i in range(75) if i % 3 == 1]
    assert {e.person for e in ratings} == {e.person for e in everything if e.type == "rating"}


def test_a_missing_table_or_an_unreachable_endpoint_is_unavailable_in_bounded_time(moto_server, tmp_path):
    missing = DynamoDBEventStore("no-such-table", settings_for(moto_server, tmp_path))
    with pytest.raises(EventStoreUnavailable) as caught:
        missing.put([event("a")])
    assert caught.value.reason == "events_unavailable" and "ResourceNotFoundException" in caught.value.detail
    with pytest.raises(ServeError, match="^--events: DynamoDB query on no-such-table failed"):
        check_events(settings_for(moto_server, tmp_path, events="dynamodb://no-such-table"))
    closed = DynamoDBEventStore("t", make_settings("/nonexistent.duckdb", tmp_path, dynamodb_region="us-east-1",
                                                   dynamodb_endpoint_url="http://127.0.0.1:9",
                                                   dynamodb_max_attempts=2, dynamodb_connect_timeout_s=0.5))
    started = time.monotonic()
    with pytest.raises(EventStoreUnavailable) as caught:
        closed.put([event("a")])
    assert caught.value.reason == "events_unavailable" and time.monotonic() - started < 10


@pytest.fixture
def lambda_handler(table, moto_server, artifact, tmp_path):
    name, _ = table
    app = create_app(settings_for(moto_server, tmp_path, artifact, events=f"dynamodb://{name}", events_key=KEY))
    yield LambdaEntry(app)
    app.state.store.close()


def response_of(result: dict) -> tuple[int, dict[str, str], dict]:
    headers = {k.lower(): v for k, v in (result.get("headers") or {}).items()}
    for k, v in (result.get("multiValueHeaders") or {}).items():
        headers[k.lower()] = ",".join(v)
    return result["statusCode"], headers, json.loads(result["body"])


@pytest.mark.parametrize("make", [rest_v1, http_v2], ids=["rest_v1", "http_v2"])
@pytest.mark.parametrize("base64_body", [False, True], ids=["text", "base64"])
def test_post_events_through_the_lambda_entry(lambda_handler, table, make, base64_body):
    name, client = table
    batch = [{"session_id": "lam", "movie_id": 858, "type": "rating", "rating": 5, "event_id": "x1"},
             {"user_id": 3, "movie_id": 1, "type": "click"}]
    post = {"method": "POST", "base64_body": base64_body}
    json_headers = {"content-type": "application/json"}
    keyed = {**json_headers, "X-LatentLens-Key": KEY}
    status, headers, body = response_of(lambda_handler(make("/events", headers=json_headers,
                                                            body=json.dumps(batch).encode(), **post), lambda_context()))
    assert (status, body["error"]["code"]) == (401, "events_key_invalid") and headers["cache-control"] == "no-store"
    assert items(client, name) == []
    status, headers, body = response_of(lambda_handler(make("/events", headers=keyed, body=json.dumps(batch).encode(),
                                                            **post), lambda_context()))
    assert status == 202 and headers["cache-control"] == "no-store"
    assert body["event_ids"][0] == "x1" and body["stored"] == 2
    store = DynamoDBEventStore(name, lambda_handler.app.state.settings)
    assert [e.event_id for e in store.recent(Person(session_id="lam"), T0)] == ["x1"]
    assert [e.event_id for e in store.recent(Person(user_id=3), T0)] == [body["event_ids"][1]]
    big = json.dumps([batch[0]] * 300).encode()
    status, _, body = response_of(lambda_handler(make("/events", headers=json_headers, body=big, **post),
                                                 lambda_context()))
    assert (status, body["error"]["code"]) == (413, "body_too_large")
    status, headers, _ = response_of(lambda_handler(make("/events"), lambda_context()))
    assert status == 405 and headers["allow"] == "POST"
