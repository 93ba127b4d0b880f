"""`latentlens experiment report --events dynamodb://TABLE` against moto's server: the same report as from a
SQLite file holding the same events, and a table that is not there one line and exit 2."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from latentlens.cli import main
from latentlens.handler.events.dynamodb_store import DynamoDBEventStore
from latentlens.handler.experiments import CHALLENGER, CHAMPION
from tests.experiments.test_report import EXPERIMENT, events_of, population, write_store
from tests.handler.conftest import make_settings, running_moto
from tests.handler.test_events_dynamodb import create_events_table

pytestmark = pytest.mark.usefixtures("fake_aws_credentials")


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    with running_moto() as url:
        yield url


def report_json(store: str, capsys: pytest.CaptureFixture) -> dict:
    assert main(["experiment", "report", "--events", store, "--experiment", EXPERIMENT.name, "--salt",
                 EXPERIMENT.salt, "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    del found["store"]
    return found


def test_a_dynamodb_table_reports_as_the_same_events_in_a_file(moto_server, tmp_path: Path, capsys, monkeypatch):
    monkeypatch.setenv("LATENTLENS_DYNAMODB_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("LATENTLENS_DYNAMODB_REGION", "us-east-1")
    client = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=moto_server)
    create_events_table(client, "ab-events")
    people = population({CHAMPION: 0.1, CHALLENGER: 0.2}, people=120)
    table = DynamoDBEventStore("ab-events", make_settings("/nonexistent.duckdb", tmp_path,
                                                          dynamodb_endpoint_url=moto_server,
                                                          dynamodb_region="us-east-1"))
    for person, row in people.items():  # a transaction per batch: one person's events at a time
        table.put(events_of(person, *row))
    from_table = report_json("dynamodb://ab-events", capsys)
    assert from_table == report_json(write_store(tmp_path / "events.sqlite", people), capsys)
    assert from_table["people"] == 120 and from_table["arms"][CHALLENGER]["clicks"] > 0


def test_a_missing_table_is_one_line_and_exit_2(moto_server, capsys, monkeypatch) -> None:
    monkeypatch.setenv("LATENTLENS_DYNAMODB_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("LATENTLENS_DYNAMODB_REGION", "us-east-1")
    assert main(["experiment", "report", "--events", "dynamodb://no-such-table", "--experiment", "x"]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("latentlens: error: ") and "no-such-table" in line, line
