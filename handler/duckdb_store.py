"""The store over a DuckDB artifact: a local file, or its s3:// copy downloaded and verified once per container.

One read-only connection for the container's life, a cursor per thread (DuckDB connections are not
thread-safe); latentlens.handler.store has the interface and the lazy, cached opening it shares with
the DynamoDB store.
"""

from __future__ import annotations

import threading

import duckdb

from latentlens.handler.artifact import Artifact, open_artifact
from latentlens.handler.queries import DuckDBRows
from latentlens.handler.settings import Settings
from latentlens.handler.store import LazyArtifact


class DuckDBStore:
    """latentlens.handler.store.Store over the DuckDB file `settings.db` names (a path or `s3://bucket/key`)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._artifact = LazyArtifact(settings, self._open, self._release)
        self._local = threading.local()
        self._cursors: list[duckdb.DuckDBPyConnection] = []

    def artifact(self) -> Artifact:
        return self._artifact.get()

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
            assert art.conn is not None  # open_artifact always connects
            cur = art.conn.cursor()
            with self._artifact.lock:
                self._cursors.append(cur)
            cached = (art, cur)
            self._local.pair = cached
        return cached

    def rows(self) -> tuple[Artifact, DuckDBRows]:
        art, cur = self.cursor()
        return art, DuckDBRows(cur)

    def _release(self, art: Artifact) -> None:
        """Close the artifact and every cursor on it (called under the LazyArtifact's lock): DuckDB keeps a
        database (and its config) alive while any connection to it is open, so a reopen would otherwise
        get the old instance back."""
        for cur in self._cursors:
            try:
                cur.close()
            except duckdb.Error:
                pass
        self._cursors.clear()
        assert art.conn is not None  # open_artifact always connects
        try:
            art.conn.close()
        except duckdb.Error:
            pass

    def invalidate(self, art: Artifact, exc: Exception) -> None:
        self._artifact.drop(art, exc)
        self._local.__dict__.pop("pair", None)

    def close(self) -> None:
        self._artifact.close()
