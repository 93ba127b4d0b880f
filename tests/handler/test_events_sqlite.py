"""The SQLite event store (handler/events/sqlite_store.py) on real files: batches whole or not at all, duplicates
acknowledged once, a person's latest events read back, several processes writing one file at once, and a file
that is something else refused."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from latentlens.handler.events.model import Person, StoredEvent
from latentlens.handler.events.sqlite_store import SCHEMA_VERSION, SQLiteEventStore
from latentlens.handler.events.store import EventStore, EventStoreUnavailable

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ALICE, BOB, USER = Person(session_id="alice"), Person(session_id="bob"), Person(user_id=7)


def event(event_id: str, person: Person = ALICE, seconds: float = 0, kind: str = "click", movie_id: int = 858,
          rating: float | None = None) -> StoredEvent:
    if kind == "rating" and rating is None:
        rating = 4.0
    return StoredEvent(event_id=event_id, person=person, movie_id=movie_id, type=kind, rating=rating,  # type: ignore[arg-type]
                       recommendation_id=None, at=T0 + timedelta(seconds=seconds))


@pytest.fixture
def store(tmp_path: Path):
    made = SQLiteEventStore(str(tmp_path / "events.sqlite"))
    yield made
    made.close()


def count(path: str) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT count(*) FROM events").fetchone()[0]


def test_it_is_an_event_store_in_wal_mode_with_full_sync(store):
    assert isinstance(store, EventStore)
    store.check()
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # kept in the file
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    writer = store._connect()
    try:
        assert writer.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL: every commit fsyncs the log
    finally:
        writer.close()


def test_put_reports_new_and_repeated_events_and_stores_each_once(store):
    assert store.put([event("a"), event("b")]) == [True, True]
    assert store.put([event("a"), event("c"), event("c")]) == [False, True, False]  # a repeat, even in one batch
    assert store.put([event("a", person=BOB)]) == [True]  # ids are per person: Bob's "a" is not Alice's
    assert count(store.path) == 4
    assert store.put([]) == []


def test_recent_is_the_latest_since_a_time_oldest_first(store):
    store.put([event(f"e{i}", seconds=i, kind="rating" if i % 2 else "click", rating=1 + i % 5 if i % 2 else None)
               for i in range(120)])
    store.put([event("bob", person=BOB, seconds=500), event("user", person=USER, seconds=500)])
    latest = store.recent(ALICE, T0)
    assert [e.event_id for e in latest] == [f"e{i}" for i in range(70, 120)]  # at most 50, the latest
    assert store.recent(ALICE, T0 + timedelta(seconds=110), limit=5) == latest[-5:]
    ratings = store.recent(ALICE, T0 + timedelta(seconds=100), types=["rating"])
    assert [e.event_id for e in ratings] == [f"e{i}" for i in range(101, 120, 2)]
    assert {e.rating for e in ratings} == {1.0 + i % 5 for i in range(101, 120, 2)}
    assert store.recent(ALICE, T0 + timedelta(days=1)) == []
    assert store.recent(ALICE, T0, types=[]) == []
    assert [e.event_id for e in store.recent(USER, T0)] == ["user"] and store.recent(USER, T0)[0].person == USER
    with pytest.raises(ValueError):
        store.recent(ALICE, T0, limit=51)


def test_scan_reads_every_event_of_the_types_asked_across_pages(store, monkeypatch):
    monkeypatch.setattr("latentlens.handler.events.sqlite_store.SCAN_PAGE", 7)  # several pages, one partly full
    store.put([event(f"e{i}", person=ALICE if i % 3 else BOB, kind="rating" if i % 2 else "click", seconds=i)
               for i in range(40)])
    store.put([event("u", person=USER, kind="rating", rating=2.5)])
    everything = list(store.scan())
    assert sorted(e.event_id for e in everything) == sorted([f"e{i}" for i in range(40)] + ["u"])
    ratings = list(store.scan(types=["rating"]))
    assert {(e.person, e.event_id) for e in ratings} == {(e.person, e.event_id) for e in everything
                                                         if e.type == "rating"}
    assert len(ratings) == 21 and all(e.rating is not None for e in ratings)
    assert list(store.scan(types=[])) == []


def test_a_batch_that_fails_stores_nothing_and_the_store_recovers(tmp_path):
    store = SQLiteEventStore(str(tmp_path / "events.sqlite"), busy_timeout_s=0.2)
    try:
        store.put([event("before")])
        holder = sqlite3.connect(store.path, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")  # another process holding the write lock past the wait
        with pytest.raises(EventStoreUnavailable) as caught:
            store.put([event("x1"), event("x2")])
        assert caught.value.reason == "events_unavailable" and "locked" in caught.value.detail
        holder.execute("ROLLBACK")
        holder.close()
        assert store.put([event("x1"), event("after")]) == [True, True]  # x1 was not stored by the failed batch
        assert count(store.path) == 3
    finally:
        store.close()


def test_concurrent_puts_from_many_threads_share_commits_and_lose_nothing(store):
    results: dict[int, list[bool]] = {}

    def write(n: int) -> None:
        for i in range(20):
            results[n * 100 + i] = store.put([event(f"t{n}-{i}"), event(f"t{n}-{i}")])

    threads = [threading.Thread(target=write, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(map(tuple, results.values())) == {(True, False)}
    assert count(store.path) == 16 * 20


def _write_from_a_process(path: str, worker: int, batches: int) -> int:
    store = SQLiteEventStore(path, busy_timeout_s=30)
    try:
        stored = 0
        for b in range(batches):
            batch = [event(f"p{worker}-{b}-{i}", person=Person(session_id=f"w{worker}"), seconds=b) for i in range(5)]
            stored += sum(store.put(batch))
        return stored
    finally:
        store.close()


def test_several_processes_writing_one_file_at_once_lose_nothing(tmp_path):
    path = str(tmp_path / "events.sqlite")  # not created yet: the processes race to create the schema too
    workers, batches = 4, 60
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        stored = pool.starmap(_write_from_a_process, [(path, w, batches) for w in range(workers)])
    assert stored == [batches * 5] * workers
    assert count(path) == workers * batches * 5
    reader = SQLiteEventStore(path)
    try:
        assert len(reader.recent(Person(session_id="w2"), T0)) == 50
    finally:
        reader.close()


def test_a_file_that_is_not_an_event_store_is_refused_and_left_alone(tmp_path):
    other = tmp_path / "mlflow.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE experiments (id INTEGER)")
    before = other.read_bytes()
    for path, words in [(other, "another SQLite database (tables: experiments)"),
                        (tmp_path / "text.txt", "file is not a database")]:
        if path.suffix == ".txt":
            path.write_text("hello\n" * 100)
            before = path.read_bytes()
        with pytest.raises(EventStoreUnavailable) as caught:
            SQLiteEventStore(str(path)).check()
        assert words in caught.value.detail
        assert path.read_bytes() == before


def test_a_newer_event_store_is_refused(tmp_path):
    store = SQLiteEventStore(str(tmp_path / "events.sqlite"))
    store.check()
    with sqlite3.connect(store.path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(EventStoreUnavailable) as caught:
        SQLiteEventStore(store.path).check()
    assert "newer version" in caught.value.detail


def test_a_bad_batch_shares_no_commit_with_others(tmp_path):
    """Batches queued behind a held lock are committed together; one breaking a constraint (a Python caller's
    rating on a click, which the route never lets through) fails alone, the others are stored."""
    store = SQLiteEventStore(str(tmp_path / "events.sqlite"))
    try:
        store.check()
        holder = sqlite3.connect(store.path, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        futures = [store.submit([event(f"good{i}")]) for i in range(3)]
        bad = store.submit([event("bad", rating=4.0)])  # a click with a rating: the table's CHECK refuses it
        futures += [store.submit([event(f"good{i}")]) for i in range(3, 6)]
        holder.execute("ROLLBACK")
        holder.close()
        assert [f.result(timeout=30) for f in futures] == [[True]] * 6
        with pytest.raises(EventStoreUnavailable, match="IntegrityError"):
            bad.result(timeout=30)
        assert count(store.path) == 6
    finally:
        store.close()
