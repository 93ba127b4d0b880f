"""Reliability: every way the artifact can be unusable is a 503 saying why, and a fixed artifact is served again."""

from __future__ import annotations

import logging
import math
import shutil
from pathlib import Path

import duckdb
import pytest
from fastapi.testclient import TestClient

from latentlens.handler import queries, schema
from latentlens.handler.app import create_app
from latentlens.handler.public import public_message
from tests.handler.conftest import make_settings
from tests.handler.fixture_artifact import BUILD_INFO, EXPERIMENT, build_fixture_artifact, write_manifest


@pytest.fixture
def client_for(tmp_path: Path):
    """Factory of clients over a given artifact; their stores are closed afterwards, since DuckDB
    refuses a second open of one file with a different configuration in the same process."""
    apps = []

    def make(db: Path, **overrides) -> TestClient:
        app = create_app(make_settings(db, tmp_path, **overrides))
        apps.append(app)
        return TestClient(app, raise_server_exceptions=False)

    yield make
    for app in apps:
        app.state.store.close()


def assert_unavailable(client: TestClient, reason: str) -> None:
    health = client.get("/health")
    assert health.status_code == 503
    assert health.json()["status"] == "unavailable" and health.json()["error"]["code"] == reason
    assert health.headers["cache-control"] == "no-store"
    for url in ["/movies/858", "/users/1/recommendations", "/popular", "/recommendations?liked=858",
                "/movies?search=x"]:
        r = client.get(url)
        assert r.status_code == 503, url
        assert r.json()["error"]["code"] == reason
        assert "etag" not in r.headers


def assert_detail_logged_not_public(client, caplog, detail: str) -> None:
    """The reason's details go to the log; the public message is the reason's short fixed text."""
    caplog.clear()
    caplog.set_level(logging.WARNING, logger="latentlens.handler")
    body = client.get("/health").json()
    assert detail not in body["error"]["message"], body
    assert any(detail in r.getMessage() for r in caplog.records), [r.getMessage() for r in caplog.records]


def copy_artifact(src: Path, dst_dir: Path) -> Path:
    dst = dst_dir / "latentlens.duckdb"
    shutil.copyfile(src, dst)
    shutil.copyfile(schema.manifest_path(str(src)), schema.manifest_path(str(dst)))
    return dst


def test_missing_artifact_then_it_appears(artifact, tmp_path, client_for, caplog):
    db = tmp_path / "later.duckdb"
    client = client_for(db)
    assert_unavailable(client, "artifact_missing")
    assert_detail_logged_not_public(client, caplog, "later.duckdb")
    shutil.copyfile(artifact, db)
    write_manifest(db)
    assert client.get("/health").status_code == 200
    assert client.get("/movies/858").status_code == 200


def test_missing_manifest(artifact, tmp_path, client_for):
    db = tmp_path / "a.duckdb"
    shutil.copyfile(artifact, db)
    assert_unavailable(client_for(db), "manifest_missing")


def test_garbage_manifest(artifact, tmp_path, client_for):
    db = copy_artifact(artifact, tmp_path)
    Path(schema.manifest_path(str(db))).write_text("not a digest\n")
    assert_unavailable(client_for(db), "manifest_invalid")


def test_truncated_artifact_fails_checksum(artifact, tmp_path, client_for):
    db = copy_artifact(artifact, tmp_path)
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 2])
    assert_unavailable(client_for(db), "checksum_mismatch")


def test_corrupted_byte_fails_checksum(artifact, tmp_path, client_for):
    db = copy_artifact(artifact, tmp_path)
    data = bytearray(db.read_bytes())
    data[len(data) // 3] ^= 0xFF
    db.write_bytes(bytes(data))
    assert_unavailable(client_for(db), "checksum_mismatch")


def test_truncated_artifact_without_checksum_is_unreadable_not_a_crash(artifact, tmp_path, client_for):
    db = tmp_path / "t.duckdb"
    db.write_bytes(artifact.read_bytes()[:4096])
    assert_unavailable(client_for(db, verify_checksum=False), "artifact_unreadable")


def test_not_a_database(tmp_path, client_for):
    db = tmp_path / "x.duckdb"
    db.write_text("hello, I am not DuckDB\n" * 100)
    write_manifest(db)
    assert_unavailable(client_for(db), "artifact_unreadable")


def test_newer_schema_is_refused(tmp_path, client_for, caplog):
    db = build_fixture_artifact(tmp_path / "new.duckdb",
                                build_info={**BUILD_INFO, "schema_version": str(schema.SCHEMA_VERSION + 1)})
    client = client_for(db)
    assert_unavailable(client, "schema_too_new")
    assert "newer" in client.get("/health").json()["error"]["message"]
    assert_detail_logged_not_public(client, caplog, f"artifact schema {schema.SCHEMA_VERSION + 1}")


def test_older_schema_is_refused(tmp_path, client_for):
    db = build_fixture_artifact(tmp_path / "old.duckdb",
                                build_info={**BUILD_INFO, "schema_version": str(schema.SCHEMA_VERSION - 1)})
    assert_unavailable(client_for(db), "schema_too_old")


def test_incomplete_build_info_is_refused(tmp_path, client_for, caplog):
    info = {k: v for k, v in BUILD_INFO.items() if k != "rating_champion"}
    db = build_fixture_artifact(tmp_path / "inc.duckdb", build_info=info)
    client = client_for(db)
    assert_unavailable(client, "artifact_incomplete")
    assert_detail_logged_not_public(client, caplog, "rating_champion")


def test_failure_is_remembered_only_for_the_retry_interval(artifact, tmp_path, monkeypatch, client_for):
    clock = [1000.0]
    monkeypatch.setattr("latentlens.handler.store.time.monotonic", lambda: clock[0])
    db = tmp_path / "late.duckdb"
    client = client_for(db, retry_interval_s=30)
    assert client.get("/health").status_code == 503
    shutil.copyfile(artifact, db)
    write_manifest(db)
    clock[0] += 29
    assert client.get("/health").status_code == 503  # not re-tried yet: cached failure
    clock[0] += 2
    assert client.get("/health").status_code == 200


def test_success_is_cached_for_the_container(artifact, tmp_path, client_for):
    db = copy_artifact(artifact, tmp_path)
    client = client_for(db)
    assert client.get("/movies/858").status_code == 200
    db.unlink()
    assert client.get("/movies/858").status_code == 200
    assert client.get("/health").status_code == 200


def test_a_failing_query_drops_the_artifact_and_it_is_reopened(artifact, tmp_path, monkeypatch, client_for):
    client = client_for(artifact)
    store = client.app.state.store
    first = store.artifact()
    real = queries.movie

    def broken(cur, movie_id):
        raise duckdb.IOException("Corrupt database file: checksum mismatch in block 7")

    monkeypatch.setattr(queries, "movie", broken)
    r = client.get("/movies/858")
    assert r.status_code == 503 and r.json()["error"]["code"] == "artifact_unreadable"
    assert "block 7" not in r.text  # DuckDB's internals are logged, not shown
    monkeypatch.setattr(queries, "movie", real)
    assert client.get("/movies/858").status_code == 200
    assert store.artifact() is not first


def test_unexpected_error_is_a_json_500_without_traceback(artifact, tmp_path, monkeypatch, client_for):
    client = client_for(artifact)

    def bug(cur, movie_id):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(queries, "movie", bug)
    r = client.get("/movies/858")
    assert r.status_code == 500
    assert r.json() == {"error": {"code": "internal_error", "message": "internal error"}}
    assert r.headers["x-content-type-options"] == "nosniff"  # answered outside the middleware stack
    assert "secret" not in r.text and "Traceback" not in r.text
    assert client.get("/popular").status_code == 200  # the process carries on


def test_duckdb_scratch_dirs_live_under_tmp_dir(artifact, tmp_path, client_for):
    client = client_for(artifact)
    assert client.get("/health").status_code == 200
    conn = client.app.state.store.artifact().conn
    home, temp = conn.execute("SELECT current_setting('home_directory'), current_setting('temp_directory')").fetchone()
    assert home.startswith(str(tmp_path / "lltmp")) and temp.startswith(str(tmp_path / "lltmp"))
    with pytest.raises(duckdb.Error):
        conn.execute("CREATE TABLE x (a INTEGER)")  # read-only


def test_unwritable_scratch_dir_is_a_503_not_a_500(artifact, tmp_path, client_for):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    client = client_for(artifact, tmp_dir=str(blocker / "latentlens"))
    assert_unavailable(client, "io_error")


def test_missing_table_is_refused(tmp_path, client_for, caplog):
    db = build_fixture_artifact(tmp_path / "notable.duckdb", manifest=False)
    con = duckdb.connect(str(db))
    con.execute("DROP TABLE similar_movies")
    con.close()
    write_manifest(db)
    client = client_for(db)
    assert_unavailable(client, "artifact_incomplete")
    assert_detail_logged_not_public(client, caplog, "similar_movies")


# --- a checksummed artifact holding a NaN or an infinity -----------------------------------------------------------

NOT_FINITE = [float("nan"), float("inf"), float("-inf")]
# every column of schema.FINITE_COLUMNS: a row of the fixture an answer reads, that answer's URL, and whether the
# answer serves the number as stored (next_movies' scores only weigh a sum, which drops a NaN or -inf follower)
DOCTORED = {
    ("similar_movies", "score"): ("movie_id = 858 AND rank = 1", "/movies/858/similar", True),
    ("user_recommendations", "score"): ("user_id = 1 AND rank = 2", "/users/1/recommendations", True),
    # served to user 1 in the fixture experiment's challenger arm (DOCTORED_SETTINGS)
    ("challenger_recommendations", "score"): ("user_id = 1 AND rank = 2", "/users/1/recommendations", True),
    ("next_movies", "score"): ("movie_id = 1221 AND rank = 1", "/recommendations?ratings=858:5,1221:5", False),
    ("popular_movies", "score"): ("genre IS NULL AND rank = 1", "/popular", True),
    ("movies", "mean_rating"): ("movie_id = 858", "/movies/858", True),
}

DOCTORED_SETTINGS = {("challenger_recommendations", "score"): EXPERIMENT}


def test_doctored_cases_cover_every_finite_column():
    assert set(DOCTORED) == {(t, c) for t, columns in schema.FINITE_COLUMNS.items() for c in columns}


def doctored_artifact(tmp_path: Path, table: str, column: str, value: float) -> Path:
    """The fixture artifact with one served number replaced by `value`, and a manifest that matches it."""
    db = build_fixture_artifact(tmp_path / "doctored.duckdb", manifest=False)
    where = DOCTORED[(table, column)][0]
    con = duckdb.connect(str(db))
    assert con.execute(f"UPDATE {table} SET {column} = ? WHERE {where}", [value]).fetchone() == (1,)
    con.close()
    write_manifest(db)
    return db


@pytest.mark.parametrize("value", NOT_FINITE, ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize(("table", "column"), list(DOCTORED), ids=lambda v: v)
def test_a_non_finite_number_is_refused_at_open_as_a_json_503(tmp_path, client_for, caplog, table, column, value):
    client = client_for(doctored_artifact(tmp_path, table, column, value), **DOCTORED_SETTINGS.get((table, column), {}))
    assert_unavailable(client, "artifact_invalid")
    r = client.get(DOCTORED[(table, column)][1])
    assert r.status_code == 503 and r.json()["error"]["code"] == "artifact_invalid"
    assert_detail_logged_not_public(client, caplog, f"{table}.{column}")


@pytest.mark.parametrize("value", NOT_FINITE, ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize(("table", "column"), list(DOCTORED), ids=lambda v: v)
def test_a_non_finite_number_that_reaches_an_answer_is_a_json_503_not_a_500(tmp_path, client_for, monkeypatch,
                                                                            caplog, table, column, value):
    """The second line: an artifact opened without the check (a build published to DynamoDB before it
    existed, say) still never makes a 500. The one answer holding the number is a JSON 503, the rest served."""
    monkeypatch.setattr("latentlens.handler.artifact._check_finite", lambda conn: None)
    client = client_for(doctored_artifact(tmp_path, table, column, value), **DOCTORED_SETTINGS.get((table, column), {}))
    assert client.get("/health").status_code == 200
    caplog.set_level(logging.ERROR, logger="latentlens.handler")
    _, url, served_as_is = DOCTORED[(table, column)]
    r = client.get(url)
    assert r.status_code in ((503,) if served_as_is else (200, 503)), r.text
    if r.status_code == 503:
        assert r.json()["error"] == {"code": "artifact_invalid", "message": public_message("artifact_invalid")}
        assert r.headers["cache-control"] == "no-store" and "etag" not in r.headers
        assert any("JSON cannot carry" in rec.getMessage() for rec in caplog.records)
    else:
        assert all(math.isfinite(item["score"]) for item in r.json()["items"])
    assert client.get("/movies/1/similar").status_code == 200  # answers without it are served
