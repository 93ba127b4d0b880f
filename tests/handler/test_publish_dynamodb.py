"""`latentlens publish dynamodb`: a new verified table per build, one conditional pointer flip, rollback.

The publisher lives in build/publish; its tests sit beside the DynamoDB store's because every one
of them ends in what the handler serves.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3
import duckdb
import pytest
from moto import mock_aws
from moto.server import ThreadedMotoServer

import latentlens.build.publish.dynamodb as publisher
from latentlens.cli import main
from latentlens.handler import schema, table_layout
from tests.handler.conftest import client_of
from tests.handler.dynamo_support import (
    NAME,
    assert_same_answers,
    copy_artifact,
    duckdb_app,
    dynamo_app,
    publish_to,
    trimmed_artifact,
)

pytestmark = pytest.mark.usefixtures("fake_aws_credentials")
REPO = Path(__file__).resolve().parents[2]




def build_tables(ddb) -> list[str]:
    return sorted(t for t in ddb.list_tables()["TableNames"] if table_layout.is_build_table(NAME, t))


def pointer(ddb) -> dict:
    item = ddb.get_item(TableName=NAME, Key={"pk": {"S": "current"}}, ConsistentRead=True)["Item"]
    return {"table": item["table"]["S"], "version": int(item["version"]["N"]),
            "history": [v["S"] for v in item["history"]["L"]]}


def rebuilt(artifact: Path, created_at: str) -> None:
    """The same data as another build (a new created_at, so a new identity and ETag)."""
    con = duckdb.connect(str(artifact))
    con.execute("UPDATE build_info SET value = ? WHERE key = 'created_at'", [created_at])
    con.close()
    Path(schema.manifest_path(str(artifact))).write_text(
        schema.manifest_text(schema.sha256_file(artifact), artifact.name))


@mock_aws
def test_keep_n_previous_builds_and_roll_back(fixture_copy, tmp_path, apps):
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    tables = []
    for day in (1, 2, 3):
        rebuilt(fixture_copy, f"2026-12-0{day}T00:00:00Z")
        tables.append(publish_to(ddb, fixture_copy, tmp_path, keep=1).table)
    assert build_tables(ddb) == sorted(tables[1:])  # current + 1 previous; the oldest was deleted
    assert pointer(ddb) == {"table": tables[2], "version": 3, "history": [tables[1]]}

    assert main(["publish", "dynamodb", "--name", NAME, "--rollback"]) == 0
    assert pointer(ddb)["table"] == tables[1] and pointer(ddb)["history"] == []
    # the table left stays for the grace (warm containers still serve it until they re-read the pointer)
    assert build_tables(ddb) == sorted(tables[1:])
    health = client_of(apps, dynamo_app(tmp_path)).get("/health")
    assert health.status_code == 200 and health.json()["build"]["created_at"] == "2026-12-02T00:00:00Z"
    assert main(["publish", "dynamodb", "--name", NAME, "--rollback"]) == 2  # nothing further back


@mock_aws
def test_two_publishes_cannot_interleave(fixture_copy, tmp_path, monkeypatch):
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    first = publish_to(ddb, fixture_copy, tmp_path)
    real_verify = publisher._verify
    inner = {}

    def verify_while_another_publish_finishes(client, name, table, items, written):
        real_verify(client, name, table, items, written)
        monkeypatch.setattr(publisher, "_verify", real_verify)
        inner["result"] = publish_to(ddb, copy_artifact(fixture_copy, tmp_path / "other"), tmp_path / "other")

    monkeypatch.setattr(publisher, "_verify", verify_while_another_publish_finishes)
    with pytest.raises(publisher.PublishError, match="pointer .* changed while this publish ran"):
        publish_to(ddb, fixture_copy, tmp_path)
    # the publish that flipped first won; the other's table was removed, nothing else touched
    assert pointer(ddb) == {"table": inner["result"].table, "version": 2, "history": [first.table]}
    assert build_tables(ddb) == sorted([first.table, inner["result"].table])


@mock_aws
def test_a_table_that_does_not_read_back_equal_is_never_pointed_at(fixture_copy, tmp_path, monkeypatch):
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    first = publish_to(ddb, fixture_copy, tmp_path)
    real_write = publisher._write_all

    def write_then_corrupt_user_1(client, table, items, workers, show_progress):
        written = real_write(client, table, items, workers, show_progress)
        client.put_item(TableName=table,
                        Item={"pk": {"S": "u#1"}, "v": {"B": table_layout.encode([[1, 318, 4.9000001]])}})
        return written

    monkeypatch.setattr(publisher, "_write_all", write_then_corrupt_user_1)
    with pytest.raises(publisher.PublishError, match="user 1's rows read back differ"):
        publish_to(ddb, fixture_copy, tmp_path)
    assert pointer(ddb)["table"] == first.table and build_tables(ddb) == [first.table]

    monkeypatch.setattr(publisher, "_write_all",
                        lambda client, table, items, workers, show: real_write(client, table, items, workers, show) + 1)
    with pytest.raises(publisher.PublishError, match="items in the table"):
        publish_to(ddb, fixture_copy, tmp_path)
    assert pointer(ddb)["table"] == first.table and build_tables(ddb) == [first.table]


@mock_aws
def test_user_mistakes_are_one_line_errors_and_change_nothing(fixture_copy, tmp_path, capsys):
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    assert main(["publish", "dynamodb", str(tmp_path / "nope.duckdb"), "--name", NAME]) == 2
    assert "no such artifact file" in capsys.readouterr().err
    assert main(["publish", "dynamodb", str(fixture_copy), "--name", "bad.name"]) == 2
    assert "--name 'bad.name'" in capsys.readouterr().err
    with open(fixture_copy, "r+b") as fh:  # a flipped byte: the manifest no longer matches
        fh.seek(4096)
        byte = fh.read(1)
        fh.seek(4096)
        fh.write(bytes([byte[0] ^ 0xFF]))
    assert main(["publish", "dynamodb", str(fixture_copy), "--name", NAME]) == 2
    err = capsys.readouterr().err
    assert "sha256 manifest" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert ddb.list_tables()["TableNames"] == []  # nothing created
    assert main(["publish", "dynamodb", "--name", NAME, "--status"]) == 2
    assert "publish a build first" in capsys.readouterr().err


@mock_aws
def test_parquet_shards_publish_the_same_answers(fixture_copy, tmp_path, apps):
    shards = tmp_path / "shards"
    con = duckdb.connect(str(fixture_copy), read_only=True)
    for table in schema.TABLE_DDL:
        (shards / table).mkdir(parents=True)
        con.table(table).write_parquet(str(shards / table / "part-00000.parquet"))
    con.close()
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    publish_to(ddb, shards, tmp_path)
    dyn, duck = client_of(apps, dynamo_app(tmp_path)), client_of(apps, duckdb_app(fixture_copy, tmp_path))
    for path in ["/users/1/recommendations?genre=drama", "/users/9/recommendations", "/movies/858", "/movies/4973",
                 "/movies/858/similar?n=3", "/recommendations?liked=858,1213", "/movies?search=amelie", "/popular?n=3"]:
        x, y = dyn.get(path), duck.get(path)
        assert x.status_code == y.status_code == 200, path
        mine, theirs = x.json(), y.json()
        # a list's id names its build, and the shards are a build of their own (their sha256, below)
        assert mine.pop("recommendation_id", None) != theirs.pop("recommendation_id", "") or "items" not in mine
        assert mine == theirs, path
    # shards' own identity
    assert dyn.get("/health").json()["artifact_sha256"] != duck.get("/health").json()["artifact_sha256"]


def test_a_publish_killed_halfway_leaves_the_old_build_serving(embedded_build, tmp_path, apps, monkeypatch):
    artifact = trimmed_artifact(embedded_build[0].out, tmp_path / "artifact" / "latentlens.duckdb")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)  # boto3's general endpoint setting, for both sides
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        old = publish_to(ddb, artifact, tmp_path)
        serving = client_of(apps, dynamo_app(tmp_path))
        old_health = serving.get("/health")
        assert old_health.status_code == 200

        rebuilt(artifact, "2026-12-24T00:00:00Z")
        before = set(build_tables(ddb))  # moto's backend is one per process: earlier tests' tables may be there
        proc = subprocess.Popen([sys.executable, "-m", "latentlens", "publish", "dynamodb", str(artifact),
                                 "--name", NAME, "--workers", "1", "--no-progress"],
                                cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        new_table, deadline = None, time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:  # wait for the new table to hold items, then kill
            new_table = next((t for t in build_tables(ddb) if t not in before), None)
            if new_table and ddb.describe_table(TableName=new_table)["Table"]["TableStatus"] == "ACTIVE" \
                    and ddb.scan(TableName=new_table, Limit=1)["Items"]:
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.01)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
        written = ddb.scan(TableName=new_table, Select="COUNT")["Count"]
        assert 0 < written < old.items  # killed halfway, not after the end

        assert pointer(ddb)["table"] == old.table  # never flipped
        assert serving.get("/health").content == old_health.content  # the open container is unaffected
        fresh = client_of(apps, dynamo_app(tmp_path))  # and a cold start still finds the old build
        assert fresh.get("/health").content == old_health.content
        assert fresh.get("/users/1/recommendations").headers["etag"] == old_health.headers["etag"]

        # the next publish completes and clears the dead one's table away
        monkeypatch.delenv("AWS_ENDPOINT_URL")
        assert main(["publish", "dynamodb", str(artifact), "--name", NAME, "--endpoint-url", endpoint,
                     "--sample", "20"]) == 0
        current = pointer(ddb)
        assert current["history"][0] == old.table  # (an earlier test's build may be further back)
        assert build_tables(ddb) == sorted({current["table"], *current["history"]})
        assert new_table not in build_tables(ddb)
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        duck = client_of(apps, duckdb_app(artifact, tmp_path))
        assert_same_answers(client_of(apps, dynamo_app(tmp_path)), duck,
                            [("/health", False), ("/users/3/recommendations?n=7", False), ("/movies/1/similar", True)])
    finally:
        server.stop()


@mock_aws
def test_import_from_s3_builds_the_same_table(fixture_copy, tmp_path, apps):
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="latentlens-staging")
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    result = publish_to(ddb, fixture_copy, tmp_path, via_s3="s3://latentlens-staging/imports")
    # users (3), challenger lists (3), sessions (1), movies (9), meta, one catalogue slice: counted by the import
    # and a Scan
    assert result.items == 3 + 3 + 1 + 9 + 1 + 1
    assert s3.list_objects_v2(Bucket="latentlens-staging").get("KeyCount") == 0  # the staged copy is removed
    dyn, duck = client_of(apps, dynamo_app(tmp_path)), client_of(apps, duckdb_app(fixture_copy, tmp_path))
    assert_same_answers(dyn, duck, [("/health", False), ("/users/1/recommendations?genre=drama", True),
                                    ("/movies/858", False), ("/recommendations?liked=858,1213", False)])
    with pytest.raises(publisher.PublishError, match="--via-s3"):
        publish_to(ddb, fixture_copy, tmp_path, via_s3="latentlens-staging/imports")


def test_an_unreachable_endpoint_is_a_one_line_error(fixture_copy, tmp_path, capsys):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    rc = main(["publish", "dynamodb", str(fixture_copy), "--name", NAME, "--endpoint-url", f"http://127.0.0.1:{port}",
               "--timeout", "1.5"])
    err = capsys.readouterr().err
    assert rc == 2 and "DynamoDB did not answer" in err and "Traceback" not in err
