"""The local event store: one SQLite file, for `latentlens serve --events FILE`.

Why SQLite: it is in the standard library (nothing to install or run beside the server), one file, and
made for exactly this: several processes (uvicorn's workers) writing one file, each transaction atomic,
and a committed one surviving a kill -9 of any of them (and, with `synchronous=FULL`, a power cut).
The file runs in WAL mode: readers never wait for the writer, and a commit appends to the log and
fsyncs it instead of rewriting pages. A writer of another process waits for the lock up to
`busy_timeout_s` (then the request is a 503 and nothing of it is stored).

Group commit: the requests of one process hand their batches to one writer thread, which takes every
batch waiting and commits them in one transaction (one fsync), then answers each. A request returns
only after the commit holding its batch, so an acknowledged event is on disk; under load many
requests share an fsync instead of queueing for one each.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
from collections.abc import Collection, Iterator, Sequence
from concurrent.futures import Future
from datetime import datetime

from latentlens.handler.events.model import EVENT_TYPES, EventType, Person, StoredEvent
from latentlens.handler.events.store import RECENT_LIMIT, EventStoreUnavailable, check_limit

logger = logging.getLogger("latentlens.handler")

SCHEMA_VERSION = 1  # PRAGMA user_version of an event store file
MAX_EVENTS_PER_COMMIT = 1000
SCAN_PAGE = 5000  # events per read of `scan`
_TYPES_SQL = ", ".join(f"'{t}'" for t in EVENT_TYPES)  # constants of this module, never a client's text
_DDL = (
    f"""CREATE TABLE events (
        seq INTEGER PRIMARY KEY,            -- the order events were stored in
        person TEXT NOT NULL,               -- 'user:<id>' or 'session:<id>' (model.Person.key)
        event_id TEXT NOT NULL,
        user_id INTEGER,
        session_id TEXT,
        movie_id INTEGER NOT NULL,
        type TEXT NOT NULL CHECK (type IN ({_TYPES_SQL})),
        rating REAL CHECK ((type = 'rating') = (rating IS NOT NULL)),
        recommendation_id TEXT,
        at_ms INTEGER NOT NULL,             -- epoch milliseconds, UTC
        CHECK ((user_id IS NULL) <> (session_id IS NULL)),
        UNIQUE (person, event_id)
    )""",
    "CREATE INDEX events_by_person_time ON events (person, at_ms)",
    f"PRAGMA user_version = {SCHEMA_VERSION}",
)
_INSERT = ("INSERT INTO events (person, event_id, user_id, session_id, movie_id, type, rating, recommendation_id, "
           "at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (person, event_id) DO NOTHING")
_COLUMNS = "event_id, user_id, session_id, movie_id, type, rating, recommendation_id, at_ms"


class _Job:
    """One `submit`'s batch, and the future its commit answers."""

    __slots__ = ("events", "future")

    def __init__(self, events: Sequence[StoredEvent]) -> None:
        self.events = events
        self.future: Future[list[bool]] = Future()


def _unavailable(path: str, exc: sqlite3.Error) -> EventStoreUnavailable:
    return EventStoreUnavailable("events_unavailable", f"SQLite event store {path}: {exc}")


class SQLiteEventStore:
    """Events in one SQLite file (see the module docstring). Safe from many threads and processes."""

    def __init__(self, path: str, busy_timeout_s: float = 5.0) -> None:
        self.path = path
        self.uri = path
        self.busy_timeout_s = busy_timeout_s
        self._lock = threading.Lock()
        self._writer: tuple[threading.Thread, queue.SimpleQueue[_Job | None]] | None = None
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._ready = False  # the file holds the schema (checked once per store)

    # -- opening -------------------------------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None,
                                   check_same_thread=False)
        except sqlite3.Error as exc:
            raise _unavailable(self.path, exc) from None
        try:
            if not self._ready:
                self._prepare(conn)
            conn.execute("PRAGMA synchronous=FULL")  # per connection: every commit fsyncs the log
        except sqlite3.Error as exc:
            conn.close()
            raise _unavailable(self.path, exc) from None
        except EventStoreUnavailable:
            conn.close()
            raise
        self._ready = True
        return conn

    def _prepare(self, conn: sqlite3.Connection) -> None:
        """WAL mode (kept in the file) and the schema, created once, under the write lock, by whichever
        process comes first. A file that is another SQLite database, or a newer event store, is refused before
        anything in it changes (switching to WAL rewrites the header)."""
        self._refuse_foreign(conn)
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise EventStoreUnavailable("events_unavailable",
                                        f"{self.path}: SQLite cannot use WAL mode here (it stays {mode})")
        conn.execute("BEGIN IMMEDIATE")
        try:
            if not self._refuse_foreign(conn):
                for ddl in _DDL:
                    conn.execute(ddl)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _refuse_foreign(self, conn: sqlite3.Connection) -> bool:
        """True for an event store of this version, False for an empty file; EventStoreUnavailable otherwise."""
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        if version == 0 and not tables:
            return False
        if version == SCHEMA_VERSION and "events" in tables:
            return True
        what = (f"an event store of a newer version ({version})" if version > SCHEMA_VERSION and "events" in tables
                else f"another SQLite database (tables: {', '.join(tables[:5])})")
        raise EventStoreUnavailable("events_unavailable", f"{self.path} is {what}, not an event store")

    def check(self) -> None:
        self._connect().close()

    # -- writing -------------------------------------------------------------------------------------------------

    def put(self, events: Sequence[StoredEvent]) -> list[bool]:
        return self.submit(events).result()

    def submit(self, events: Sequence[StoredEvent]) -> Future[list[bool]]:
        """`put` without waiting: a future the commit holding the batch answers (or fails). The route awaits it
        on the event loop (latentlens.handler.events.store.put_async), so no thread waits per request."""
        job = _Job(events)
        if not events:
            job.future.set_result([])
            return job.future
        with self._lock:
            if self._writer is None or not self._writer[0].is_alive():
                jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
                thread = threading.Thread(target=self._write_loop, args=(jobs,), name="latentlens-events-writer",
                                          daemon=True)
                thread.start()
                self._writer = (thread, jobs)
            self._writer[1].put(job)
        return job.future

    def _write_loop(self, queued: queue.SimpleQueue[_Job | None]) -> None:
        """The writer thread: commit what is waiting, as one transaction, until close() sends None."""
        conn: sqlite3.Connection | None = None
        stopping = False
        while not stopping:
            first = queued.get()
            if first is None:
                break
            jobs, count = [first], len(first.events)
            while count < MAX_EVENTS_PER_COMMIT:
                try:
                    more = queued.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                    break
                jobs.append(more)
                count += len(more.events)
            conn = self._commit(conn, jobs)
        if conn is not None:
            conn.close()

    def _commit(self, conn: sqlite3.Connection | None, jobs: list[_Job]) -> sqlite3.Connection | None:
        """Commit every job's events in one transaction, then answer each job; on failure, fail them all (nothing
        stored), except that a batch breaking a constraint (a caller's bad event) is retried job by job, so only
        its own job fails. Returns the connection to use next (None after a failure: the next batch reconnects).
        Never raises: an unanswered job would leave its request waiting forever."""
        try:
            conn = conn or self._connect()
            conn.execute("BEGIN IMMEDIATE")
            try:
                results = [[conn.execute(_INSERT, _row(event)).rowcount == 1 for event in job.events]
                           for job in jobs]
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except Exception as exc:
            if isinstance(exc, sqlite3.IntegrityError) and len(jobs) > 1:
                for job in jobs:
                    conn = self._commit(conn, [job])
                return conn
            error = exc if isinstance(exc, EventStoreUnavailable) else EventStoreUnavailable(
                "events_unavailable", f"SQLite event store {self.path}: {type(exc).__name__}: {exc}")
            logger.error("event store write failed, %d events not stored: %s", sum(len(j.events) for j in jobs),
                         error.detail)
            for job in jobs:
                job.future.set_exception(error)
            if conn is not None and not isinstance(exc, sqlite3.IntegrityError):
                conn.close()
                conn = None
            return conn
        for job, result in zip(jobs, results, strict=True):
            job.future.set_result(result)
        return conn

    # -- reading -------------------------------------------------------------------------------------------------

    def _reader(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            conn.execute("PRAGMA query_only=ON")
            self._local.conn = conn
            with self._lock:
                self._readers.append(conn)
        return conn

    def recent(self, person: Person, since: datetime, *, types: Collection[EventType] = EVENT_TYPES,
               limit: int = RECENT_LIMIT) -> list[StoredEvent]:
        check_limit(limit)
        kinds = [t for t in EVENT_TYPES if t in types]
        if not kinds:
            return []
        sql = (f"SELECT {_COLUMNS} FROM events WHERE person = ? AND at_ms >= ? "
               f"AND type IN ({', '.join('?' * len(kinds))}) ORDER BY at_ms DESC, seq DESC LIMIT ?")
        since_ms = round(since.timestamp() * 1000)
        try:
            rows = self._reader().execute(sql, (person.key, since_ms, *kinds, limit)).fetchall()
        except sqlite3.Error as exc:
            self._drop_reader()
            raise _unavailable(self.path, exc) from None
        return [_stored(row) for row in reversed(rows)]

    def scan(self, types: Collection[EventType] = EVENT_TYPES) -> Iterator[StoredEvent]:
        """Pages of SCAN_PAGE events in stored order (by seq), each page its own read, so a long scan holds no
        snapshot that would keep the write-ahead log from being checkpointed."""
        kinds = [t for t in EVENT_TYPES if t in types]
        sql = (f"SELECT seq, {_COLUMNS} FROM events WHERE seq > ? AND type IN ({', '.join('?' * len(kinds))}) "
               "ORDER BY seq LIMIT ?")
        after = 0
        while kinds:
            try:
                rows = self._reader().execute(sql, (after, *kinds, SCAN_PAGE)).fetchall()
            except sqlite3.Error as exc:
                self._drop_reader()
                raise _unavailable(self.path, exc) from None
            yield from (_stored(row[1:]) for row in rows)
            if len(rows) < SCAN_PAGE:
                return
            after = rows[-1][0]

    def _drop_reader(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with self._lock:
                self._readers = [c for c in self._readers if c is not conn]
            conn.close()

    def close(self) -> None:
        with self._lock:
            writer, self._writer = self._writer, None
            readers, self._readers = self._readers, []
            if writer is not None:
                writer[1].put(None)  # after every batch already queued
        if writer is not None:
            writer[0].join()
        for conn in readers:
            conn.close()
        self._local = threading.local()


def _row(event: StoredEvent) -> tuple:
    p = event.person
    return (p.key, event.event_id, p.user_id, p.session_id, event.movie_id, event.type, event.rating,
            event.recommendation_id, event.at_ms)


def _stored(row: tuple) -> StoredEvent:
    event_id, user_id, session_id, movie_id, kind, rating, recommendation_id, at_ms = row
    return StoredEvent(event_id=event_id, person=Person(user_id, session_id), movie_id=movie_id, type=kind,
                       rating=rating, recommendation_id=recommendation_id, at=StoredEvent.from_ms(at_ms))
