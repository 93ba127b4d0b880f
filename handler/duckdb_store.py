"""The store over a DuckDB artifact: a local file, or its s3:// copy downloaded and verified once per container.

One read-only connection for the container's life, a cursor per thread (DuckDB connections are not
thread-safe); latentlens.handler.store has the interface and the lazy, cached opening it shares with
the DynamoDB store.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import threading

import duckdb

from latentlens.handler import schema
from latentlens.handler.artifact import Artifact, ArtifactUnavailable, open_artifact
from latentlens.handler.audience import NOBODY, Audience
from latentlens.handler.queries import DuckDBRows
from latentlens.handler.settings import Settings
from latentlens.handler.store import LazyArtifact


class DuckDBStore:
    """latentlens.handler.store.Store over the DuckDB file `settings.db` names (a path or `s3://bucket/key`)."""

    def __init__(self, settings: Settings, audience: Audience = NOBODY) -> None:
        self.settings, self.audience = settings, audience
        self._artifact = LazyArtifact(settings, self._open, self._release)
        self._local = threading.local()
        self._cursors: list[tuple[Artifact, duckdb.DuckDBPyConnection]] = []  # every cursor made, by artifact
        self._aliases = itertools.count()

    def artifact(self) -> Artifact:
        return self._artifact.get()

    def _open(self) -> Artifact:
        db = self.settings.db
        if db.startswith("s3://"):
            from latentlens.handler.s3 import fetch

            path, digest = fetch(db, self.settings)
            return open_artifact(path, self.settings, sha256=digest)
        quick = self.settings.quick_verify and os.path.realpath(db) not in self._artifact.distrusted
        return open_artifact(db, self.settings, quick=quick)

    def cursor(self) -> tuple[Artifact, duckdb.DuckDBPyConnection]:
        """The artifact and this thread's cursor on it (DuckDB connections are not thread-safe). An artifact
        closed between being fetched and the cursor being made (a close, a failed query's drop) is fetched
        again once; a second miss is ArtifactUnavailable (a 503), never DuckDB's ConnectionException."""
        for _ in range(2):
            art = self.artifact()
            cached = getattr(self._local, "pair", None)
            if cached is not None and cached[0] is art:
                return cached
            cur = self._cursor_on(art)
            if cur is not None:
                self._local.pair = (art, cur)
                return art, cur
        raise ArtifactUnavailable("artifact_unreadable", "the artifact was closed while a request opened it")

    def _cursor_on(self, art: Artifact) -> duckdb.DuckDBPyConnection | None:
        """A new cursor on `art`, registered so that releasing `art` closes it; None when `art` is closed. Made
        under the lock `_release` runs under, so a cursor is made before a release or not at all."""
        assert art.conn is not None  # open_artifact always connects
        with self._artifact.lock:
            try:
                cur = art.conn.cursor()
            except duckdb.ConnectionException:
                return None
            self._cursors.append((art, cur))
        return cur

    def rows(self) -> tuple[Artifact, DuckDBRows]:
        art, cur = self.cursor()
        return art, DuckDBRows(cur, self.audience)

    def _release(self, art: Artifact) -> None:
        """Close `art` and every cursor on it (called under the LazyArtifact's lock): DuckDB keeps a
        database (and its config) alive while any connection to it is open, so a reopen would otherwise
        get the old instance back. Cursors on another artifact (the one serving after a replace) stay."""
        for owner, cur in self._cursors:
            if owner is art:
                try:
                    cur.close()
                except duckdb.Error:
                    pass
        self._cursors = [(owner, cur) for owner, cur in self._cursors if owner is not art]
        assert art.conn is not None  # open_artifact always connects
        try:
            art.conn.close()
        except duckdb.Error:
            pass

    def open_replacement(self) -> Artifact:
        """Open and verify the build `settings.db` names now, beside the one being served, which is untouched
        (so a worker thread may call this while requests are answered). Local files only. A file replaced in
        place has the served one's path, for which DuckDB would hand back the database already open: it is
        opened through a hard link (and its manifest's) beside it, removed once open."""
        real = os.path.realpath(self.settings.db)
        current = self._artifact.current
        if current is None or current.path != real:
            return self._open()
        name = f".{os.path.basename(real)}.open-{os.getpid()}-{next(self._aliases)}"
        alias = os.path.join(os.path.dirname(real), name)
        pairs = ((real, alias), (schema.manifest_path(real), schema.manifest_path(alias)))
        try:
            for source, link in pairs:
                os.link(source, link)
            art = open_artifact(alias, self.settings)
        except OSError as exc:
            raise ArtifactUnavailable("io_error", f"cannot open the replaced file beside the served one: {exc}") \
                from None
        finally:
            for _, link in pairs:
                try:
                    os.unlink(link)
                except OSError:
                    pass
        return dataclasses.replace(art, path=real)

    def replace(self, new: Artifact) -> Artifact | None:
        """Serve `new` from now on; the previous artifact is returned open (see `release`)."""
        return self._artifact.replace(new)

    def release(self, art: Artifact) -> None:
        """Close an artifact `replace` returned, once no request is using it."""
        self._artifact.release(art)

    def invalidate(self, art: Artifact, exc: Exception) -> None:
        self._artifact.drop(art, exc)
        self._local.__dict__.pop("pair", None)

    def close(self) -> None:
        self._artifact.close()
