"""`latentlens serve --events URI`: the banner says where events go and how to send one (the curl line works), and
an event store it cannot use is one line and exit 2 before anything starts, the file left as it was."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import httpx
import pytest

from latentlens.cli.serve import EVENT_EXAMPLE
from tests.handler.fixture_artifact import build_fixture_artifact
from tests.test_serve_startup import Served, free_port


@pytest.mark.server
def test_serve_with_events_takes_them_and_says_where(tmp_path) -> None:
    db = build_fixture_artifact(tmp_path / "a.duckdb")
    port = free_port()
    served = Served(["--db", str(db), "--port", str(port), "--events", "events.sqlite"], tmp_path)  # cwd: tmp_path
    try:
        output = served.wait_for("in a browser")
        url = f"http://127.0.0.1:{port}"
        assert f"  events: POST {url}/events into {tmp_path / 'events.sqlite'}" in output.splitlines()
        assert f"curl -s -X POST '{url}/events' -H 'content-type: application/json' -d '{EVENT_EXAMPLE}'" in output
        r = httpx.post(f"{url}/events", content=EVENT_EXAMPLE, headers={"content-type": "application/json"})
        assert r.status_code == 202 and r.json()["stored"] == 1
    finally:
        served.stop()
    with sqlite3.connect(tmp_path / "events.sqlite") as conn:
        assert conn.execute("SELECT session_id, movie_id, type, rating FROM events").fetchall() == [
            tuple(json.loads(EVENT_EXAMPLE)[k] for k in ("session_id", "movie_id", "type", "rating"))]


def test_serve_without_events_says_they_are_off() -> None:
    from latentlens.cli.serve import banner

    assert "  events: off (--events URI turns them on)" in banner("/a.duckdb", "127.0.0.1", 8000).splitlines()


def _other_sqlite(path: Path) -> Path:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE runs (id INTEGER)")
    return path


@pytest.mark.parametrize(("make", "words"), [
    (lambda tmp: tmp, "is a directory (name the event store's file, e.g. events.sqlite)"),
    (lambda tmp: tmp / "no" / "such" / "events.sqlite", "the folder"),
    (lambda tmp: _other_sqlite(tmp / "mlflow.db"), "is another SQLite database (tables: runs), not an event store"),
    (lambda tmp: tmp / "notes.txt", "file is not a database"),
    (lambda tmp: "dynamodb://x", "not a DynamoDB table name"),
], ids=["directory", "missing-folder", "another-sqlite", "not-sqlite", "bad-table-name"])
def test_an_event_store_serve_cannot_use_is_one_line_and_exit_2(tmp_path, capsys, make, words) -> None:
    from latentlens.cli import main

    (tmp_path / "notes.txt").write_text("not a database\n" * 50)
    target = make(tmp_path)
    before = Path(target).read_bytes() if isinstance(target, Path) and Path(target).is_file() else None
    assert main(["serve", "--db", str(tmp_path / "a.duckdb"), "--port", str(free_port()), "--events", str(target)]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("latentlens: error: ") and words in line, line
    if before is not None:
        assert Path(target).read_bytes() == before


def test_a_short_events_key_is_one_line_that_never_shows_the_key(tmp_path, capsys, monkeypatch) -> None:
    from latentlens.cli import main

    monkeypatch.setenv("LATENTLENS_EVENTS_KEY", "tooShortSecret")
    assert main(["serve", "--db", str(tmp_path / "a.duckdb"), "--port", str(free_port()),
                 "--events", str(tmp_path / "e.sqlite")]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("latentlens: error: LATENTLENS_EVENTS_KEY: must be at least 16 characters")
    assert "tooShortSecret" not in line


@pytest.mark.server
def test_two_workers_fold_a_rating_into_the_next_answer_whichever_worker_answers(tmp_path) -> None:
    """`serve --workers 2` on one SQLite file: a rating acknowledged by one process is out of the list the other
    answers with, from the first request after the 202 (a committed WAL transaction is seen by every reader)."""
    db = build_fixture_artifact(tmp_path / "a.duckdb")
    port = free_port()
    served = Served(["--db", str(db), "--port", str(port), "--events", "events.sqlite", "--workers", "2"], tmp_path)
    try:
        served.wait_for("in a browser")
        while sum("Application startup complete" in line for line in served.seen) < 2:  # both workers up
            served.seen.append(served.lines.get(timeout=60))
        url = f"http://127.0.0.1:{port}"
        for i, movie_id in enumerate((2571, 1, 1221)):  # popular 318, 2571, 1, 858, 1221: each rated in turn
            session = f"workers-{i}"
            with httpx.Client() as client:  # a new connection each time: either worker may answer
                assert client.get(f"{url}/sessions/{session}/recommendations?n=5").json()["source"] == "popular"
            r = httpx.post(f"{url}/events", json={"session_id": session, "movie_id": movie_id, "type": "rating",
                                                   "rating": 0.5})
            assert r.status_code == 202
            for _ in range(10):
                with httpx.Client() as client:
                    answer = client.get(f"{url}/sessions/{session}/recommendations?n=5")
                assert answer.headers["cache-control"] == "private, no-store"
                assert movie_id not in [item["movie_id"] for item in answer.json()["items"]]
        pids = {line.split("[")[1].split("]")[0] for line in served.seen if "Started server process" in line}
        assert len(pids) == 2, served.seen
    finally:
        served.stop()
