"""/health and the 503s are public: a reason code and a short fixed message; paths and DuckDB's or the
OS's own words go to the log only."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from latentlens.handler.app import create_app
from latentlens.handler.public import PUBLIC_MESSAGES
from tests.handler.conftest import make_settings
from tests.handler.fixture_artifact import write_manifest

INTERNAL_WORDS = ("duckdb", "IO Error", "Catalog Error", "Serialization", "Errno", "Traceback", "/tmp", "/work")


def broken(case: str, artifact: Path, tmp: Path) -> tuple[Path, dict]:
    db = tmp / "deep" / "private" / "latentlens.duckdb"
    db.parent.mkdir(parents=True)
    if case == "missing":
        return db, {}
    if case == "not_a_database":  # DuckDB's message names the file and its own internals
        db.write_text("hello, I am not DuckDB\n" * 100)
        write_manifest(db)
        return db, {}
    if case == "truncated_unverified":
        db.write_bytes(artifact.read_bytes()[:4096])
        return db, {"verify_checksum": False}
    if case == "unreadable_manifest":
        db.write_bytes(artifact.read_bytes())
        os.mkdir(str(db) + ".sha256")  # a directory where the manifest should be: the OS error names the path
        return db, {}
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["missing", "not_a_database", "truncated_unverified", "unreadable_manifest"])
def test_health_shows_no_absolute_paths_or_duckdb_messages(artifact, tmp_path, case, caplog):
    caplog.set_level(logging.WARNING, logger="latentlens.handler")
    db, overrides = broken(case, artifact, tmp_path)
    app = create_app(make_settings(db, tmp_path, **overrides))
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            for url in ("/health", "/movies/858", "/popular"):
                r = client.get(url)
                assert r.status_code == 503
                error = r.json()["error"]
                assert error["message"] == PUBLIC_MESSAGES[error["code"]], error
                for word in (str(tmp_path), "private", *INTERNAL_WORDS):
                    assert word.casefold() not in r.text.casefold(), (url, word, r.text)
    finally:
        app.state.store.close()
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "private" in logged or case == "truncated_unverified" and "DuckDB" in logged, logged  # details: in the log


def test_every_reason_the_handler_raises_has_a_public_message():
    import re

    root = Path(__file__).resolve().parents[2] / "handler"
    raised = set()
    for path in root.rglob("*.py"):
        raised |= set(re.findall(r'ArtifactUnavailable\(\s*"([a-z_]+)"', path.read_text()))
    assert raised and raised <= set(PUBLIC_MESSAGES), raised - set(PUBLIC_MESSAGES)
