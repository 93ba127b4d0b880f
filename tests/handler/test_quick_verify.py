"""The quick open (LATENTLENS_QUICK_VERIFY, on for Lambda in template.yaml): a manifest's fingerprint gates the
first answer and the full sha256 finishes beside it; a file that fails either is never served after it is known
to, and is opened only after its full check from then on."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from latentlens.handler import artifact, schema
from latentlens.handler.app import create_app
from latentlens.handler.artifact import ArtifactUnavailable
from latentlens.handler.duckdb_store import DuckDBStore
from tests.handler.conftest import make_settings


def fingerprinted(artifact: Path) -> str:
    """Give `artifact` a manifest with its fingerprint line, as the build writes it; its text."""
    text = schema.manifest_text(schema.sha256_file(artifact), artifact.name, schema.fingerprint_file(artifact))
    Path(schema.manifest_path(str(artifact))).write_text(text)
    return text


def sampled_ranges(size: int) -> list[tuple[int, int]]:
    """The byte ranges fingerprint_file reads, from its constants."""
    spread = [size * (i + 1) // (schema.FINGERPRINT_SPREAD + 1) for i in range(schema.FINGERPRINT_SPREAD)]
    return ([(0, schema.FINGERPRINT_HEAD), (max(0, size - schema.FINGERPRINT_BLOCK), size)]
            + [(s, s + schema.FINGERPRINT_BLOCK) for s in spread])


def unsampled_offset(size: int) -> int:
    """A byte the fingerprint does not read, in the middle of the file."""
    for offset in range(size // 2, size):
        if not any(lo <= offset < hi for lo, hi in sampled_ranges(size)):
            return offset
    raise AssertionError("every byte is sampled")


def flip(path: Path, offset: int) -> None:
    with open(path, "r+b") as fh:
        fh.seek(offset)
        byte = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([byte[0] ^ 0xFF]))


def test_the_fingerprint_tells_a_truncated_extended_or_changed_file(tmp_path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(os.urandom(12 << 20))
    good = schema.fingerprint_file(path)
    assert good == schema.fingerprint_file(path) and good.startswith("v1:")
    copy = tmp_path / "g.bin"
    for change in ("truncate", "extend", "head", "tail", "spread"):
        shutil.copyfile(path, copy)
        size = copy.stat().st_size
        if change == "truncate":
            os.truncate(copy, size - 1)
        elif change == "extend":
            with open(copy, "ab") as fh:
                fh.write(b"\0")
        else:
            flip(copy, {"head": 100, "tail": size - 1, "spread": sampled_ranges(size)[5][0] + 7}[change])
        assert schema.fingerprint_file(copy) != good, change
    shutil.copyfile(path, copy)
    flip(copy, unsampled_offset(12 << 20))
    assert schema.fingerprint_file(copy) == good  # what only the full sha256 finds


def test_a_manifest_keeps_sha256sum_format_with_its_fingerprint_line(tmp_path) -> None:
    text = schema.manifest_text("ab" * 32, "latentlens.duckdb", "v1:" + "cd" * 32)
    assert schema.parse_manifest(text) == ("ab" * 32, "latentlens.duckdb")
    assert schema.manifest_fingerprint(text) == "v1:" + "cd" * 32
    assert schema.manifest_fingerprint(schema.manifest_text("ab" * 32, "x")) is None
    assert schema.parse_manifest(text + text.splitlines()[0] + "\n") is None  # two digests: not a manifest


def test_quick_open_answers_and_its_full_check_agrees(fixture_copy, tmp_path) -> None:
    text = fingerprinted(fixture_copy)
    store = DuckDBStore(make_settings(fixture_copy, tmp_path, quick_verify=True))
    try:
        art = store.artifact()
        assert art.full_check is not None and art.sha256 == schema.parse_manifest(text)[0]
        assert art.full_check.result() == art.sha256
        assert store.artifact() is art
    finally:
        store.close()


def test_only_the_full_check_nothing_waits_for_yields_the_cpu(fixture_copy, tmp_path, monkeypatch) -> None:
    """Beside the first answers the sha256 runs at the lowest priority (nice 19, its thread only), so it takes the
    CPU they leave; when the open waits for it (no quick verify) it runs at the process's own."""
    fingerprinted(fixture_copy)
    seen: list[int] = []

    def verify(path: str) -> str:  # the check itself, noting the priority of the thread it runs on
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        return schema.sha256_file(path)

    monkeypatch.setattr(artifact, "verify_local", verify)
    for quick in (True, False):
        store = DuckDBStore(make_settings(fixture_copy, tmp_path, quick_verify=quick))
        try:
            art = store.artifact()
            if art.full_check is not None:
                art.full_check.result()
        finally:
            store.close()
    assert seen == [19, os.getpriority(os.PRIO_PROCESS, threading.get_native_id())]


def test_quick_open_refuses_a_truncated_file_at_once(fixture_copy, tmp_path) -> None:
    fingerprinted(fixture_copy)
    os.truncate(fixture_copy, fixture_copy.stat().st_size - 4096)
    with TestClient(create_app(make_settings(fixture_copy, tmp_path, quick_verify=True)),
                    raise_server_exceptions=False) as client:
        r = client.get("/users/1/recommendations")
        assert r.status_code == 503 and r.json()["error"]["code"] == "checksum_mismatch"


def test_without_a_fingerprint_quick_open_waits_for_the_full_sha256(fixture_copy, tmp_path) -> None:
    store = DuckDBStore(make_settings(fixture_copy, tmp_path, quick_verify=True))  # fixture manifest: no fingerprint
    try:
        assert store.artifact().full_check is None  # awaited before the open returned
    finally:
        store.close()


def test_a_changed_byte_the_fingerprint_misses_is_caught_by_the_full_check(embedded_build, tmp_path) -> None:
    settings, _ = embedded_build
    built = Path(settings.out).resolve()
    manifest = Path(schema.manifest_path(str(built))).read_text()
    assert schema.manifest_fingerprint(manifest) == schema.fingerprint_file(built)  # the build writes it
    copy = tmp_path / built.name
    shutil.copyfile(built, copy)
    Path(schema.manifest_path(str(copy))).write_text(manifest)
    flip(copy, unsampled_offset(copy.stat().st_size))
    store = DuckDBStore(make_settings(copy, tmp_path, quick_verify=True))
    try:
        art = store.artifact()  # the fingerprint matches: served while the sha256 runs
        assert art.full_check is not None
        with pytest.raises(ArtifactUnavailable, match="sha256 manifest") as failed:
            art.full_check.result()
        assert failed.value.reason == "checksum_mismatch"
        for _ in range(2):  # dropped once known; reopened (retry_interval_s 0) only after its full check
            with pytest.raises(ArtifactUnavailable) as again:
                store.artifact()
            assert again.value.reason == "checksum_mismatch"
        assert str(copy) in store._artifact.distrusted
    finally:
        store.close()
