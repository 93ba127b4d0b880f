"""`latentlens serve` reopens a replaced artifact off the event loop: requests go on being answered from the
old build while the new one is hashed, opened and verified, then all at once from the new one; closing the
old build never fails a request (a 200 from one build or the other, never a 500).

"The reopen is in progress" is made certain, not timed: the test holds the lock a build holds while it
publishes (an exclusive flock on the artifact's directory, build/export/artifact.py `_publish`), which the
reopen waits for; the server has logged that it is reopening and has not logged that it reopened.
"""

from __future__ import annotations

import fcntl
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import httpx
import pytest

from latentlens.handler import answers
from latentlens.handler.artifact import ArtifactUnavailable
from latentlens.handler.duckdb_store import DuckDBStore
from latentlens.handler.store import guarded_call
from tests.handler.conftest import make_settings
from tests.handler.fixture_artifact import build_fixture_artifact
from tests.test_serve_startup import rebuilt_pair, replace_pair, serving

OLD_TITLE, NEW_TITLE = "Godfather, The (1972)", "Godfather (rebuilt)"


@contextmanager
def publishing(directory: Path) -> Iterator[None]:
    """Hold the directory's lock as a build does while it publishes an artifact there."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


class Client(threading.Thread):
    """Keeps asking for one movie until stopped; records (status, etag, title) of every answer."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.answers = url, []
        self.stop = threading.Event()
        self.start()

    def run(self) -> None:
        with httpx.Client(timeout=30) as http:
            while not self.stop.is_set():
                r = http.get(self.url)
                title = r.json().get("title") if r.status_code == 200 else r.text
                self.answers.append((r.status_code, r.headers.get("etag"), title))

    def finish(self) -> list[tuple[int, str | None, str]]:
        self.stop.set()
        self.join(timeout=60)
        assert not self.is_alive()
        return self.answers


@pytest.mark.server
def test_requests_are_answered_from_the_old_build_while_the_new_one_opens_then_from_the_new(tmp_path) -> None:
    with serving(tmp_path) as (db, served, url):
        before = httpx.get(url, timeout=10)
        assert before.status_code == 200 and before.json()["title"] == OLD_TITLE
        new = rebuilt_pair(tmp_path, NEW_TITLE)
        clients = [Client(url) for _ in range(3)]
        with publishing(tmp_path):
            replace_pair(new, db)
            served.wait_for("reopening it")  # a request saw the new file; its reopen waits for our lock
            during = [httpx.get(url, timeout=10) for _ in range(20)]  # each completes while the reopen cannot
            assert "reopened" not in served.wait_for("reopening it")
        assert {(r.status_code, r.headers["etag"], r.json()["title"]) for r in during} == {
            (200, before.headers["etag"], OLD_TITLE)}
        served.wait_for("reopened")
        after = httpx.get(url, timeout=10)
        answered = [a for c in clients for a in c.finish()]
    assert after.status_code == 200 and after.json()["title"] == NEW_TITLE
    assert after.headers["etag"] != before.headers["etag"]
    assert answered and {a[0] for a in answered} == {200}, [a for a in answered if a[0] != 200][:3]
    assert {(a[1], a[2]) for a in answered} <= {(before.headers["etag"], OLD_TITLE), (after.headers["etag"], NEW_TITLE)}


@pytest.mark.server
def test_a_replacement_that_fails_verification_leaves_the_old_build_answering(tmp_path) -> None:
    with serving(tmp_path) as (db, served, url):
        before = httpx.get(url, timeout=10)
        new = rebuilt_pair(tmp_path, NEW_TITLE)
        Path(str(new) + ".sha256").write_text("0" * 64 + "  latentlens.duckdb\n")  # a pair that does not match
        replace_pair(new, db)
        httpx.get(url, timeout=10)  # notices the replacement
        assert "checksum_mismatch" in served.wait_for("cannot be served")
        later = [httpx.get(url, timeout=10) for _ in range(5)]
    assert {(r.status_code, r.headers["etag"], r.json()["title"]) for r in later} == {
        (200, before.headers["etag"], OLD_TITLE)}


def test_closing_the_store_while_threads_open_cursors_is_never_a_raw_duckdb_error(tmp_path) -> None:
    """The race behind a 500: close() between a thread fetching the artifact and opening its cursor (or
    mid-query). Each lookup answers or raises ArtifactUnavailable (a 503 in the API), never duckdb.Error."""
    db = build_fixture_artifact(tmp_path / "latentlens.duckdb")
    store = DuckDBStore(make_settings(db, tmp_path))
    start = threading.Barrier(7)
    outcomes: list[str] = []
    escaped: list[BaseException] = []

    def look_up() -> None:
        start.wait()
        for _ in range(300):
            try:
                art, src = store.rows()
                guarded_call(store, art, answers.movie, art, src, 858)
                outcomes.append("answer")
            except ArtifactUnavailable:
                outcomes.append("unavailable")
            except duckdb.Error as exc:
                escaped.append(exc)

    threads = [threading.Thread(target=look_up) for _ in range(6)]
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # hand the GIL over as often as it can be: the window is a few bytecodes wide
    try:
        for t in threads:
            t.start()
        start.wait()
        while any(t.is_alive() for t in threads):
            store.close()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(switch)
    store.close()
    assert not escaped, escaped[:3]
    assert len(outcomes) == 6 * 300 and "answer" in outcomes
