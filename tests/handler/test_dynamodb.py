"""DynamoDB mode answers exactly as DuckDB mode, and fails as a bounded JSON 503.

moto stands in for DynamoDB: in-process (`mock_aws`) for most tests, and its server on
127.0.0.1 once, so boto3's real HTTP path and the AWS_ENDPOINT_URL_DYNAMODB setting run.
"""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import duckdb
import pytest
from botocore.awsrequest import AWSResponse
from moto import mock_aws
from moto.server import ThreadedMotoServer

from latentlens.handler import dynamodb as dynamo_mode
from latentlens.handler import schema
from tests.handler.conftest import client_of
from tests.handler.dynamo_support import (
    NAME,
    assert_same_answers,
    duckdb_app,
    dynamo_app,
    publish_to,
    random_requests,
    trimmed_artifact,
)

pytestmark = pytest.mark.usefixtures("fake_aws_credentials")


@pytest.fixture
def real_artifact(embedded_build, tmp_path):
    """The embedded ml-latest-small build cut to 200 users and its 1,500 most rated movies."""
    settings, _ = embedded_build
    return trimmed_artifact(settings.out, tmp_path / "artifact" / "latentlens.duckdb")




def test_thousand_random_requests_equal_duckdb_byte_for_byte_in_process(real_artifact, tmp_path, apps):
    requests = random_requests(real_artifact, 1000)
    with mock_aws():
        result = publish_to(boto3.client("dynamodb", region_name="us-east-1"), real_artifact, tmp_path)
        dyn, duck = client_of(apps, dynamo_app(tmp_path)), client_of(apps, duckdb_app(real_artifact, tmp_path))
        statuses = assert_same_answers(dyn, duck, requests)
    # the mix reached every kind of answer: found, not found, invalid, and conditional
    assert {200, 304, 404, 422} <= set(statuses), statuses
    assert statuses[200] > 500
    # items stay far below DynamoDB's 400 KB limit
    assert result.sizes["user"]["items"] == 200 and result.sizes["user"]["max"] < 16 * 1024, result.sizes
    assert result.sizes["movie"]["max"] < 16 * 1024 and result.sizes["catalogue"]["max"] <= 128 * 1024 + 16


def test_thousand_random_requests_equal_duckdb_against_moto_server(real_artifact, tmp_path, apps, monkeypatch):
    requests = random_requests(real_artifact, 1000, seed=7)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        # both sides find the server through boto3's standard setting alone
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", f"http://{host}:{port}")
        publish_to(boto3.client("dynamodb", region_name="us-east-1"), real_artifact, tmp_path, workers=4)
        dyn, duck = client_of(apps, dynamo_app(tmp_path)), client_of(apps, duckdb_app(real_artifact, tmp_path))
        statuses = assert_same_answers(dyn, duck, requests)
        assert statuses[200] > 500
    finally:
        server.stop()


@mock_aws
def test_a_container_keeps_its_build_and_a_new_one_follows_the_pointer(fixture_copy, tmp_path, apps):
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    first = publish_to(ddb, fixture_copy, tmp_path)
    old = client_of(apps, dynamo_app(tmp_path))
    old_etag = old.get("/health").headers["etag"]
    # a second build of the same data with another identity (a new created_at)
    con = duckdb.connect(str(fixture_copy))
    con.execute("UPDATE build_info SET value = '2026-12-01T00:00:00Z' WHERE key = 'created_at'")
    con.close()
    Path(schema.manifest_path(str(fixture_copy))).write_text(
        schema.manifest_text(schema.sha256_file(fixture_copy), fixture_copy.name))
    second = publish_to(ddb, fixture_copy, tmp_path)
    assert second.table != first.table and second.history == [first.table]
    # the open container still answers from the build it opened, never a mix
    assert old.get("/health").headers["etag"] == old_etag
    assert old.get("/users/1/recommendations").headers["etag"] == old_etag
    new = client_of(apps, dynamo_app(tmp_path))
    assert new.get("/health").json()["build"]["created_at"] == "2026-12-01T00:00:00Z"
    assert new.get("/health").headers["etag"] != old_etag


@mock_aws
def test_a_missing_table_is_a_503_and_a_new_publish_is_picked_up(fixture_copy, tmp_path, apps, caplog):
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    published = publish_to(ddb, fixture_copy, tmp_path)
    c = client_of(apps, dynamo_app(tmp_path))
    assert c.get("/users/1/recommendations").json()["source"] == "personal"
    ddb.delete_table(TableName=published.table)
    r = c.get("/users/1/recommendations")
    assert r.status_code == 503 and r.headers["cache-control"] == "no-store"
    assert r.json()["error"]["code"] == "table_missing"
    # the table's name is for the operator's log, not the public answer (handler.public)
    assert published.table not in r.json()["error"]["message"] and published.table in caplog.text
    # the pointer still names the deleted table: still a 503, re-read each time (retry_interval_s = 0 in tests)
    assert c.get("/movies/858").json()["error"]["code"] == "table_missing"
    publish_to(ddb, fixture_copy, tmp_path)
    assert c.get("/movies/858").status_code == 200  # the same container recovered without a restart


@mock_aws
def test_nothing_published_yet_is_a_503_with_the_reason(tmp_path, apps):
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    c = client_of(apps, dynamo_app(tmp_path))
    r = c.get("/health")
    assert r.status_code == 503 and r.json()["error"]["code"] == "pointer_missing"
    ddb.create_table(TableName=NAME, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
    r = c.get("/users/1/recommendations")
    assert r.status_code == 503 and r.json()["error"]["code"] == "not_published"


def test_a_bad_name_is_a_503_not_a_500(tmp_path, apps):
    r = client_of(apps, dynamo_app(tmp_path, name="no.dots*")).get("/popular")
    assert r.status_code == 503 and r.json()["error"]["code"] == "store_misconfigured"


@mock_aws
def test_a_table_with_other_columns_is_refused_not_misread(fixture_copy, tmp_path, apps, monkeypatch):
    publish_to(boto3.client("dynamodb", region_name="us-east-1"), fixture_copy, tmp_path)
    wanted = dynamo_mode.columns()
    wanted["user"].append("because")  # a newer handler reading an older table
    monkeypatch.setattr(dynamo_mode, "columns", lambda: wanted)
    r = client_of(apps, dynamo_app(tmp_path)).get("/health")
    assert r.status_code == 503 and r.json()["error"]["code"] == "schema_mismatch"


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_):
        yield self.body


def _answer(status: int, body: dict):
    def handler(request, **_):
        handler.calls += 1
        return AWSResponse(request.url, status, {"Content-Type": "application/x-amz-json-1.0"},
                           _Raw(json.dumps(body).encode()))
    handler.calls = 0
    return handler


@mock_aws
def test_throttling_is_a_503_after_botocores_bounded_retries(fixture_copy, tmp_path, apps):
    publish_to(boto3.client("dynamodb", region_name="us-east-1"), fixture_copy, tmp_path)
    c = client_of(apps, dynamo_app(tmp_path, dynamodb_max_attempts=2))
    assert c.get("/health").status_code == 200  # pointer and catalogue loaded
    throttled = _answer(400, {"__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException",
                              "message": "Rate of requests exceeds the allowed throughput."})
    c.app.state.store.client.meta.events.register("before-send.dynamodb.GetItem", throttled)
    r = c.get("/users/1/recommendations")
    assert r.status_code == 503 and r.headers["cache-control"] == "no-store"
    assert r.json()["error"]["code"] == "store_throttled"
    assert throttled.calls == 2  # dynamodb_max_attempts, then the 503
    assert c.get("/popular").status_code == 200  # held in memory: no read, no throttling
    c.app.state.store.client.meta.events.unregister("before-send.dynamodb.GetItem", throttled)
    assert c.get("/users/1/recommendations").status_code == 200  # nothing was dropped


@mock_aws
def test_keys_left_unprocessed_are_retried_a_bounded_number_of_times(fixture_copy, tmp_path, apps):
    published = publish_to(boto3.client("dynamodb", region_name="us-east-1"), fixture_copy, tmp_path)
    c = client_of(apps, dynamo_app(tmp_path, dynamodb_max_attempts=3))
    assert c.get("/health").status_code == 200
    keys = {"Keys": [{"pk": {"S": "m#858"}}]}
    unprocessed = _answer(200, {"Responses": {published.table: []}, "UnprocessedKeys": {published.table: keys}})
    c.app.state.store.client.meta.events.register("before-send.dynamodb.BatchGetItem", unprocessed)
    r = c.get("/recommendations", params={"liked": "858"})
    assert r.status_code == 503 and r.json()["error"]["code"] == "store_throttled"
    assert unprocessed.calls == 3


def test_an_unreachable_endpoint_is_a_bounded_503(tmp_path, apps):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    c = client_of(apps, dynamo_app(tmp_path, dynamodb_endpoint_url=f"http://127.0.0.1:{port}", dynamodb_max_attempts=2,
                                   dynamodb_connect_timeout_s=0.5, dynamodb_read_timeout_s=0.5))
    r = c.get("/users/1/recommendations")
    assert r.status_code == 503 and r.json()["error"]["code"] == "store_unavailable"
