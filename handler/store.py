"""The artifact for this container's life: opened lazily on first use, cached once it works.

A failed open is remembered only for `retry_interval_s`, so a missing or broken artifact that
gets fixed is picked up without a restart; a good one is kept until the process ends.
"""

from __future__ import annotations

import atexit
import gc
import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import duckdb

from latentlens.handler.artifact import Artifact, ArtifactUnavailable, open_artifact
from latentlens.handler.queries import DuckDBRows, RowSource
from latentlens.handler.settings import Settings

logger = logging.getLogger("latentlens.handler")

T = TypeVar("T")


class QueryFailed(ArtifactUnavailable):
    """A query failed inside DuckDB: the store dropped the artifact, and the next use reopens and re-verifies it."""


def guarded_call(store: Store, art: Artifact, fn: Callable[..., T], *args) -> T:
    """Run one answer function on `art`. A DuckDB failure drops the artifact and is QueryFailed; a store that
    failed after its own bounded retries (DynamoDB) raises ArtifactUnavailable, and a published table that is
    gone also drops the artifact (the pointer is re-read next time). The routes and latentlens.Lens both call this."""
    try:
        return fn(*args)
    except duckdb.Error as exc:
        store.invalidate(art, exc)
        raise QueryFailed("artifact_unreadable", f"the artifact failed a query; it will be reopened ({exc})") from None
    except ArtifactUnavailable as exc:
        if exc.reason == "table_missing":
            store.invalidate(art, exc)
        raise


def make_store(settings: Settings) -> Store:
    """The store `settings.db` names: `dynamodb://<name>` reads a published table, anything else a DuckDB file."""
    if settings.db.startswith("dynamodb://"):
        from latentlens.handler.dynamodb import DynamoDBStore

        return DynamoDBStore(settings)
    return Store(settings)


class Store:
    """Owns the one read-only DuckDB connection; hands out a cursor per thread.

    The store interface the routes use is `artifact()`, `rows()`, `invalidate()` and `close()`;
    handler.dynamodb.DynamoDBStore implements the same over a published DynamoDB table."""

    _unfreeze_at_exit = False  # process-wide: gc.freeze() is process-wide too

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._artifact: Artifact | None = None
        self._failure: ArtifactUnavailable | None = None
        self._failed_at = 0.0
        self._local = threading.local()
        self._cursors: list[duckdb.DuckDBPyConnection] = []

    def artifact(self) -> Artifact:
        """The open artifact, or ArtifactUnavailable saying why not."""
        art = self._artifact
        if art is not None:
            return art
        with self._lock:
            if self._artifact is not None:
                return self._artifact
            if self._failure is not None and time.monotonic() - self._failed_at < self.settings.retry_interval_s:
                raise self._failure
            try:
                try:
                    self._artifact = self._open()
                except OSError as exc:  # unreadable file, /tmp full or not writable: still a 503, not a 500
                    raise ArtifactUnavailable("io_error", f"{type(exc).__name__}: {exc.strerror or exc}") from None
                self._failure = None
                # The movie map is long-lived: keep it out of the collector's scans (tail latency),
                # and hand it back at exit so DuckDB's bindings are torn down cleanly.
                gc.freeze()
                if not Store._unfreeze_at_exit:
                    atexit.register(gc.unfreeze)
                    Store._unfreeze_at_exit = True
            except ArtifactUnavailable as exc:
                logger.warning("artifact unavailable (%s): %s", exc.reason, exc.message)
                self._failure, self._failed_at = exc, time.monotonic()
                raise
            return self._artifact

    def _open(self) -> Artifact:
        db = self.settings.db
        if db.startswith("s3://"):
            from latentlens.handler.s3 import fetch

            path, digest = fetch(db, self.settings)
            return open_artifact(path, self.settings, sha256=digest)
        return open_artifact(db, self.settings)

    def cursor(self) -> tuple[Artifact, duckdb.DuckDBPyConnection]:
        """The artifact and this thread's cursor on it (DuckDB connections are not thread-safe)."""
        art = self.artifact()
        cached = getattr(self._local, "pair", None)
        if cached is None or cached[0] is not art:
            assert art.conn is not None  # a DuckDB artifact (DynamoDBStore has no cursor)
            cur = art.conn.cursor()
            with self._lock:
                self._cursors.append(cur)
            cached = (art, cur)
            self._local.pair = cached
        return cached

    def rows(self) -> tuple[Artifact, RowSource]:
        """The artifact and this thread's keyed reads on it (latentlens.handler.queries computes answers from them)."""
        art, cur = self.cursor()
        return art, DuckDBRows(cur)

    def _drop(self, art: Artifact) -> None:
        """Close the artifact and every cursor on it: DuckDB keeps a database (and its config) alive
        while any connection to it is open, so a reopen would otherwise get the old instance back."""
        for cur in self._cursors:
            try:
                cur.close()
            except duckdb.Error:
                pass
        self._cursors.clear()
        assert art.conn is not None  # a DuckDB artifact (DynamoDBStore drops nothing)
        try:
            art.conn.close()
        except duckdb.Error:
            pass

    def invalidate(self, art: Artifact, exc: Exception) -> None:
        """A query failed inside DuckDB: drop this artifact so the next request reopens and re-verifies."""
        with self._lock:
            if self._artifact is art:
                logger.error("artifact failed a query, reopening on next use: %s", exc)
                self._drop(art)
                self._artifact = None
                self._failure = ArtifactUnavailable("artifact_unreadable", f"artifact failed a query: {exc}")
                self._failed_at = time.monotonic()
        self._local.__dict__.pop("pair", None)

    def close(self) -> None:
        """Close the artifact (tests, shutdown); the next request opens it again."""
        with self._lock:
            if self._artifact is not None:
                self._drop(self._artifact)
                self._artifact = None
