"""A corrupt DynamoDB store is a JSON 503 that is remembered, never a 500; the CLI reports and repairs it; a
rollback keeps the table it leaves until warm containers have followed the pointer.

moto's server on 127.0.0.1 stands in for DynamoDB (boto3's real HTTP path, found through
AWS_ENDPOINT_URL_DYNAMODB); requests are real API Gateway events through the Lambda entry. Time moves by
a clock handed to the store (and by the publisher's --grace), never by sleeping.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

import boto3
import pytest

from latentlens.cli import main
from latentlens.handler import table_layout
from latentlens.handler.dynamodb import DynamoDBStore
from latentlens.handler.lambda_entry import LambdaEntry
from tests.handler.conftest import running_moto
from tests.handler.dynamo_support import dynamo_app, publish_to
from tests.handler.events import http_v2, lambda_context, rest_v1
from tests.handler.test_lambda_malformed_events import SCHEDULED
from tests.handler.test_publish_dynamodb import rebuilt

pytestmark = pytest.mark.usefixtures("fake_aws_credentials")


@pytest.fixture(scope="module")
def moto_endpoint():
    with running_moto() as endpoint:
        yield endpoint


@pytest.fixture
def ddb(moto_endpoint, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", moto_endpoint)  # the publisher, the CLI and the handler
    return boto3.client("dynamodb", region_name="us-east-1")


@pytest.fixture
def name() -> str:
    return f"ll-{uuid.uuid4().hex[:12]}"  # one deployment per test on the shared server


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Container:
    """One warm Lambda container: the app behind the Lambda entry, its store on `clock`, its store reads counted."""

    def __init__(self, tmp_path, name: str, clock: Clock, **settings) -> None:
        self.app = dynamo_app(tmp_path, name=name, **settings)
        self.app.state.store = DynamoDBStore(self.app.state.store.settings, clock=clock)
        self.entry = LambdaEntry(self.app)
        self.reads = 0

        def count(**_) -> None:
            self.reads += 1
        self.app.state.store.client.meta.events.register("before-call.dynamodb", count)

    def get(self, url: str, event: Callable[[str], dict] = http_v2) -> tuple[int, dict, dict]:
        response = self.entry(event(url), lambda_context())
        return response["statusCode"], response["headers"], json.loads(response["body"])

    def warm(self) -> tuple[int, dict]:
        response = self.entry(SCHEDULED, lambda_context("warmer"))
        return response["statusCode"], json.loads(response["body"])

    def close(self) -> None:
        self.app.state.store.close()


def pointer_table(ddb, name: str) -> str:
    return ddb.get_item(TableName=name, Key={"pk": {"S": "current"}}, ConsistentRead=True)["Item"]["table"]["S"]


def build_tables(ddb, name: str) -> list[str]:
    return sorted(t for t in ddb.list_tables()["TableNames"] if table_layout.is_build_table(name, t))


def put_meta(ddb, table: str, value: dict) -> None:
    ddb.put_item(TableName=table, Item={"pk": {"S": "meta"}, "v": value})


def without_build_info(ddb, table: str) -> None:
    blob = ddb.get_item(TableName=table, Key={"pk": {"S": "meta"}}, ConsistentRead=True)["Item"]["v"]["B"]
    meta = table_layout.decode(blob)
    del meta["build_info"]
    put_meta(ddb, table, {"B": table_layout.encode(meta)})


def set_pointer(ddb, name: str, update: str, values: dict | None = None, names: dict | None = None) -> None:
    ddb.update_item(TableName=name, Key={"pk": {"S": "current"}}, UpdateExpression=update,
                    ExpressionAttributeNames=names or {"#a": "table"},
                    **({"ExpressionAttributeValues": values} if values else {}))


CORRUPTIONS: dict[str, Callable] = {
    "pointer_without_table": lambda ddb, name, table: set_pointer(ddb, name, "REMOVE #a"),
    "pointer_table_a_number": lambda ddb, name, table: set_pointer(ddb, name, "SET #a = :v", {":v": {"N": "7"}}),
    "pointer_version_a_string": lambda ddb, name, table: set_pointer(
        ddb, name, "SET #a = :v", {":v": {"S": "seven"}}, {"#a": "version"}),
    "pointer_history_a_string": lambda ddb, name, table: set_pointer(
        ddb, name, "SET #a = :v", {":v": {"S": "x"}}, {"#a": "history"}),
    "meta_not_zlib": lambda ddb, name, table: put_meta(ddb, table, {"B": b"this is not zlib"}),
    "meta_value_a_string": lambda ddb, name, table: put_meta(ddb, table, {"S": "meta"}),
    "meta_not_an_object": lambda ddb, name, table: put_meta(ddb, table, {"B": table_layout.encode([1, 2])}),
    "meta_without_build_info": lambda ddb, name, table: without_build_info(ddb, table),
}


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1 and err.startswith("latentlens: error: "), err
    return err


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_a_corrupt_pointer_or_meta_is_a_remembered_503_the_cli_reports_and_a_publish_repairs(
        corruption, ddb, name, fixture_copy, tmp_path, capsys):
    first = publish_to(ddb, fixture_copy, tmp_path, name=name)
    CORRUPTIONS[corruption](ddb, name, first.table)
    clock = Clock()
    box = Container(tmp_path, name, clock, retry_interval_s=30)
    try:
        for url, event in (("/health", http_v2), ("/users/1/recommendations", rest_v1), ("/popular", http_v2)):
            status, headers, body = box.get(url, event)
            assert (status, body["error"]["code"]) == (503, "store_invalid"), (url, body)
            assert headers["cache-control"] == "no-store" and first.table not in json.dumps(body)
        assert box.warm() == (503, {"status": "unavailable", "warmed": False, "error": {
            "code": "store_invalid", "message": box.get("/health")[2]["error"]["message"]}})
        reads = box.reads  # the failed open's reads (pointer, maybe meta) happened once
        assert 0 < reads <= 3
        for _ in range(20):
            assert box.get("/movies/858")[0] == 503
        assert box.reads == reads  # remembered for retry_interval_s: the store is not read again

        capsys.readouterr()
        assert main(["publish", "dynamodb", "--name", name, "--status"]) == 2
        assert ("corrupt" if corruption.startswith("pointer") else "cannot be served") in one_line_error(capsys)
        if corruption.startswith("pointer"):
            assert main(["publish", "dynamodb", "--name", name, "--rollback"]) == 2
            assert "corrupt" in one_line_error(capsys)

        repaired = publish_to(ddb, fixture_copy, tmp_path, name=name)  # what `publish dynamodb` runs
        assert pointer_table(ddb, name) == repaired.table
        assert main(["publish", "dynamodb", "--name", name, "--status"]) == 0
        assert json.loads(capsys.readouterr().out)["table"] == repaired.table
        assert box.get("/health")[0] == 503  # still inside the back-off
        clock.now += 30
        status, _, body = box.get("/users/1/recommendations")
        assert status == 200 and body["source"] == "personal"
        assert box.warm()[0] == 200
    finally:
        box.close()


def test_rollback_away_from_a_corrupt_meta_repairs_and_to_one_refuses(ddb, name, fixture_copy, tmp_path, capsys):
    rebuilt(fixture_copy, "2026-12-01T00:00:00Z")
    first = publish_to(ddb, fixture_copy, tmp_path, name=name)
    rebuilt(fixture_copy, "2026-12-02T00:00:00Z")
    second = publish_to(ddb, fixture_copy, tmp_path, name=name)
    put_meta(ddb, first.table, {"B": b"not zlib"})  # the rollback target
    capsys.readouterr()
    assert main(["publish", "dynamodb", "--name", name, "--rollback"]) == 2
    assert f"cannot roll back to {first.table}" in one_line_error(capsys)
    assert pointer_table(ddb, name) == second.table  # nothing switched

    rebuilt(fixture_copy, "2026-12-03T00:00:00Z")
    third = publish_to(ddb, fixture_copy, tmp_path, name=name)
    without_build_info(ddb, third.table)  # the current build is the corrupt one: roll back away from it
    assert main(["publish", "dynamodb", "--name", name, "--rollback"]) == 0
    assert pointer_table(ddb, name) == second.table
    box = Container(tmp_path, name, Clock())
    try:
        status, _, body = box.get("/health")
        assert status == 200 and body["build"]["created_at"] == "2026-12-02T00:00:00Z"
    finally:
        box.close()


def corrupt_items(ddb, table: str) -> None:
    ddb.put_item(TableName=table, Item={"pk": {"S": "u#1"}, "v": {"B": b"not zlib"}})
    ddb.put_item(TableName=table, Item={"pk": {"S": "u#2"}, "v": {"S": "a string, not bytes"}})
    ddb.put_item(TableName=table, Item={"pk": {"S": "m#858"}, "v": {"B": table_layout.encode({"x": 1})}})
    ddb.put_item(TableName=table, Item={"pk": {"S": "m#1221"}, "v": {"B": table_layout.encode([["x"], [], []])}})


def test_a_corrupt_user_or_movie_item_is_a_503_for_that_key_and_others_are_served(ddb, name, fixture_copy,
                                                                                  tmp_path):
    published = publish_to(ddb, fixture_copy, tmp_path, name=name)
    box = Container(tmp_path, name, Clock())
    try:
        assert box.get("/health")[0] == 200
        corrupt_items(ddb, published.table)
        for url in ("/users/1/recommendations", "/users/2/recommendations", "/movies/858", "/movies/858/similar",
                    "/movies/1221", "/recommendations?liked=858", "/recommendations?liked=318,1221"):
            for event in (http_v2, rest_v1):
                status, headers, body = box.get(url, event)
                assert (status, body["error"]["code"]) == (503, "item_invalid"), (url, body)
                assert headers["cache-control"] == "no-store" and published.table not in json.dumps(body)
        for url in ("/movies/318", "/movies/318/similar", "/recommendations?liked=318", "/popular", "/health",
                    "/movies?search=godfather"):
            assert box.get(url)[0] == 200, url
        assert box.get("/users/424242/recommendations")[0] == 200  # an unknown user: the popular fallback
    finally:
        box.close()


def test_after_a_rollback_warm_containers_serve_the_old_table_until_their_pointer_cache_expires(
        ddb, name, fixture_copy, tmp_path, capsys):
    rebuilt(fixture_copy, "2026-12-01T00:00:00Z")
    first = publish_to(ddb, fixture_copy, tmp_path, name=name)
    rebuilt(fixture_copy, "2026-12-02T00:00:00Z")
    second = publish_to(ddb, fixture_copy, tmp_path, name=name)
    clock = Clock()
    box = Container(tmp_path, name, clock, dynamodb_pointer_cache_s=60)
    try:
        second_etag = box.get("/health")[1]["etag"]
        assert main(["publish", "dynamodb", "--name", name, "--rollback"]) == 0  # the default grace
        assert pointer_table(ddb, name) == first.table
        assert build_tables(ddb, name) == sorted([first.table, second.table])  # the table left is kept
        clock.now += 59
        for url in ("/users/1/recommendations", "/movies/858/similar", "/recommendations?liked=858"):
            status, headers, _ = box.get(url)
            assert (status, headers["etag"]) == (200, second_etag), url  # read from the table it holds
        clock.now += 1  # its pointer cache has expired: the next request follows the pointer
        status, headers, body = box.get("/health")
        assert status == 200 and body["build"]["created_at"] == "2026-12-01T00:00:00Z"
        assert headers["etag"] != second_etag and box.get("/users/1/recommendations")[0] == 200

        rebuilt(fixture_copy, "2026-12-03T00:00:00Z")
        third = publish_to(ddb, fixture_copy, tmp_path, name=name)  # within the grace: the left table stays
        assert second.table in build_tables(ddb, name) and third.retired == [second.table]
        # a later rollback once the grace has passed (moved by --grace) sweeps it, and keeps the one it leaves
        capsys.readouterr()
        assert main(["publish", "dynamodb", "--name", name, "--rollback", "--grace", "0"]) == 0
        done = json.loads(capsys.readouterr().out)
        assert done["deleted"] == [second.table] and list(done["retired"]) == [third.table]
        assert build_tables(ddb, name) == sorted([first.table, third.table])
        assert pointer_table(ddb, name) == first.table
    finally:
        box.close()


def test_a_warm_container_whose_pointer_turns_corrupt_keeps_serving_its_build(ddb, name, fixture_copy, tmp_path):
    first = publish_to(ddb, fixture_copy, tmp_path, name=name)
    clock = Clock()
    box = Container(tmp_path, name, clock, dynamodb_pointer_cache_s=60, retry_interval_s=5)
    try:
        etag = box.get("/health")[1]["etag"]
        CORRUPTIONS["pointer_without_table"](ddb, name, first.table)
        clock.now += 60
        assert box.get("/users/1/recommendations")[0] == 200  # the re-read failed: the build held is served
        reads = box.reads
        assert box.get("/movies/858")[1]["etag"] == etag and box.reads == reads + 1  # the item alone: no re-read
        rebuilt(fixture_copy, "2026-12-05T00:00:00Z")
        publish_to(ddb, fixture_copy, tmp_path, name=name)  # repairs the pointer
        clock.now += 5  # the back-off after the failed re-read
        status, headers, body = box.get("/health")
        assert status == 200 and body["build"]["created_at"] == "2026-12-05T00:00:00Z" and headers["etag"] != etag
    finally:
        box.close()
