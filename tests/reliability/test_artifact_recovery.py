"""A live `latentlens serve` process facing a missing, truncated, corrupted, newer-schema and
checksum-failing artifact: /health names the reason, every other endpoint is a JSON 503, the
process stays up, and it serves again as soon as a good artifact is installed (no restart)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import httpx
import pytest

from latentlens.handler import schema
from tests.handler.fixture_artifact import BUILD_INFO, build_fixture_artifact, write_manifest
from tests.reliability.conftest import free_port
from tests.reliability.serve_process import Server

pytestmark = pytest.mark.slow

ENDPOINTS = ["/movies/858", "/users/1/recommendations", "/popular", "/recommendations?liked=858",
             "/movies?search=godfather", "/movies/858/similar"]


def install(src: Path, db: Path, manifest: str | None = None) -> None:
    """Atomically put `src` (and a manifest: its own unless given) at `db`, as a deploy would."""
    tmp = db.with_name(db.name + ".incoming")
    shutil.copyfile(src, tmp)
    os.replace(tmp, db)
    mpath = Path(schema.manifest_path(str(db)))
    if manifest is None:
        write_manifest(db)
    else:
        mpath.write_text(manifest)


def wait_for_health(url: str, status: int, reason: str | None, server: Server, timeout: float = 30) -> dict:
    """Poll /health (bounded) until it gives `status` (and reason); the server must stay alive meanwhile."""
    deadline = time.monotonic() + timeout
    while True:
        assert server.proc.poll() is None, "the server process exited"
        r = httpx.get(url + "/health", timeout=5)
        body = r.json()
        if r.status_code == status and (reason is None or body.get("error", {}).get("code") == reason):
            return body
        assert time.monotonic() < deadline, f"/health stayed {r.status_code} {body}, wanted {status} {reason}"
        time.sleep(0.05)


def assert_all_503(url: str, reason: str) -> None:
    for path in ENDPOINTS:
        r = httpx.get(url + path, timeout=5)
        assert r.status_code == 503, (path, r.status_code)
        assert r.headers["content-type"] == "application/json" and r.headers["cache-control"] == "no-store"
        assert r.json()["error"]["code"] == reason, (path, r.json())
        assert r.json()["error"]["message"]


def test_a_live_server_reports_each_broken_artifact_and_recovers_without_restart(artifact, tmp_path):
    db = tmp_path / "serve" / "latentlens.duckdb"
    db.parent.mkdir()
    good = artifact.read_bytes()
    newer = build_fixture_artifact(tmp_path / "newer.duckdb",
                                   build_info={**BUILD_INFO, "schema_version": str(schema.SCHEMA_VERSION + 1)})
    truncated = tmp_path / "truncated.duckdb"
    truncated.write_bytes(good[: len(good) // 2])
    corrupted = tmp_path / "corrupted.duckdb"
    flipped = bytearray(good)
    flipped[len(flipped) // 3] ^= 0xFF
    corrupted.write_bytes(bytes(flipped))
    good_manifest = Path(schema.manifest_path(str(artifact))).read_text()

    port = free_port()
    # retry_interval_s=0: every request re-checks the file, so each step below is seen afresh
    # (production keeps a failure for 2 s so a broken artifact is not re-hashed on every request)
    server = Server(db, port, tmp_path / "lltmp", retry_interval_s="0")
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:  # no artifact yet: the server still starts and answers
            try:
                r = httpx.get(url + "/health", timeout=2)
                break
            except httpx.TransportError:
                assert server.proc.poll() is None and time.monotonic() < deadline, "serve did not come up"
                time.sleep(0.05)
        assert r.status_code == 503 and r.json()["status"] == "unavailable"
        assert r.json()["error"]["code"] == "artifact_missing"
        assert_all_503(url, "artifact_missing")

        steps = [
            (truncated, good_manifest, "checksum_mismatch"),   # a half-copied file under the real manifest
            (corrupted, good_manifest, "checksum_mismatch"),   # one flipped byte
            (artifact, "0" * 64 + "  latentlens.duckdb\n", "checksum_mismatch"),  # manifest of another build
            (newer, None, "schema_too_new"),                   # verified, but from a newer build
            (truncated, None, "artifact_unreadable"),          # self-consistent manifest, not a database
        ]
        for src, manifest, reason in steps:
            install(src, db, manifest)
            wait_for_health(url, 503, reason, server)
            assert_all_503(url, reason)

        install(artifact, db)
        body = wait_for_health(url, 200, None, server)
        assert body["status"] == "ok" and body["artifact_sha256"] == good_manifest.split()[0]
        r = httpx.get(url + "/movies/858", timeout=5)
        assert r.status_code == 200 and r.json()["title"] == "Godfather, The (1972)"
        assert server.proc.poll() is None
    finally:
        server.stop()
