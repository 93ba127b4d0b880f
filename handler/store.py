"""The store interface the routes and latentlens.Lens use, and the one part both stores share: the
artifact, opened lazily on first use and cached once it works.

Two stores implement `Store`, neither a kind of the other: latentlens.handler.duckdb_store.DuckDBStore
(a DuckDB file, local or its s3:// copy) and latentlens.handler.dynamodb.DynamoDBStore (a table
published to DynamoDB); latentlens.handler.stores.make_store picks one from `settings.db`. Both keep
their artifact in a LazyArtifact: a failed open is remembered only for `retry_interval_s`, so a
missing or broken artifact that gets fixed is picked up without a restart; a good one is kept until
the process ends. This module imports neither store.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar, runtime_checkable

import duckdb

from latentlens.handler import collector
from latentlens.handler.artifact import Artifact, ArtifactUnavailable
from latentlens.handler.audience import Audience
from latentlens.handler.queries import RowSource
from latentlens.handler.settings import Settings

logger = logging.getLogger("latentlens.handler")

T = TypeVar("T")
A = TypeVar("A", bound=Artifact)


@runtime_checkable
class Store(Protocol):
    """What the routes and latentlens.Lens ask of a store, whichever serves the build."""

    settings: Settings
    audience: Audience  # whose events its reads fold into lists, and the experiment (latentlens.handler.audience)

    def artifact(self) -> Artifact:
        """The open artifact (its in-memory catalogue), or ArtifactUnavailable saying why not."""
        ...

    def rows(self) -> tuple[Artifact, RowSource]:
        """The artifact and this thread's keyed reads on it (latentlens.handler.queries computes answers from them)."""
        ...

    def invalidate(self, art: Artifact, exc: Exception) -> None:
        """A read of `art` failed for good: drop it, so the next use opens (and verifies) the build again."""
        ...

    def close(self) -> None:
        """Let go of the artifact (tests, shutdown, `latentlens serve` on a replaced file); the next use reopens it."""
        ...


class QueryFailed(ArtifactUnavailable):
    """A query failed inside DuckDB: the store dropped the artifact, and the next use reopens and re-verifies it."""


def guarded_call(store: Store, art: Artifact, fn: Callable[..., T], *args, **kwargs) -> T:
    """Run one answer function on `art`. A DuckDB failure drops the artifact and is QueryFailed; a store that
    failed after its own bounded retries (DynamoDB) raises ArtifactUnavailable, and a published table that is
    gone also drops the artifact (the pointer is re-read next time). The routes and latentlens.Lens both call this."""
    try:
        return fn(*args, **kwargs)
    except duckdb.Error as exc:
        store.invalidate(art, exc)
        raise QueryFailed("artifact_unreadable", f"the artifact failed a query; it will be reopened ({exc})") from None
    except ArtifactUnavailable as exc:
        if exc.reason == "table_missing":
            store.invalidate(art, exc)
        raise


class LazyArtifact(Generic[A]):
    """The artifact a store serves: `open()` on first use, kept once it works, a failure remembered for
    `settings.retry_interval_s` (by `clock`, seconds); `release(art)` frees a dropped or closed one. `lock` is
    held while opening, dropping, replacing and closing, so a store may hold it to guard what its `release` frees."""

    def __init__(self, settings: Settings, open: Callable[[], A], release: Callable[[A], None],
                 clock: Callable[[], float] | None = None) -> None:
        self.settings = settings
        # looked up now, not at import: time.monotonic as the process has it when the store is made
        self._open, self._release, self._clock = open, release, clock if clock is not None else time.monotonic
        self.lock = threading.Lock()
        self._artifact: A | None = None
        self._failure: ArtifactUnavailable | None = None
        self._failed_at = 0.0
        self.distrusted: set[str] = set()  # files whose full sha256 failed after a quick open

    @property
    def current(self) -> A | None:
        """The open artifact, or None while none is open (never opens one)."""
        return self._artifact

    def get(self) -> A:
        """The open artifact, or ArtifactUnavailable saying why not."""
        art = self._artifact
        if art is not None and (art.full_check is None or art.full_check.error is None):
            return art
        with self.lock:
            if self._artifact is not None:
                self._check_in_full(self._artifact)
                return self._artifact
            if self._failure is not None and self._clock() - self._failed_at < self.settings.retry_interval_s:
                raise self._failure
            try:
                try:
                    opened = self._open()
                except OSError as exc:  # unreadable file, /tmp full or not writable: still a 503, not a 500
                    raise ArtifactUnavailable("io_error", f"{type(exc).__name__}: {exc.strerror or exc}") from None
                self._artifact, self._failure = opened, None
                # What the open made lives as long as the artifact: keep it out of the collector's scans
                # (tail latency).
                collector.freeze_long_lived()
            except ArtifactUnavailable as exc:
                logger.warning("artifact unavailable (%s): %s", exc.reason, exc.message)
                self._failure, self._failed_at = exc, self._clock()
                raise
            return opened

    def _check_in_full(self, art: A) -> None:
        """The full sha256 left running by a quick open (settings.quick_verify) failed: drop `art`, remember why,
        and open that file only after its full check from now on (`distrusted`)."""
        error = art.full_check.error if art.full_check is not None else None
        if error is None:
            return
        logger.warning("artifact failed its full check (%s): %s", error.reason, error.message)
        self.distrusted.add(art.path)
        self._artifact, self._failure, self._failed_at = None, error, self._clock()
        self._release(art)
        raise error

    def replace(self, new: A) -> A | None:
        """Serve `new` from now on (one assignment under the lock: a reader gets the old or the new, whole).
        The old one is returned still open, for the caller to `release` once no request uses it."""
        with self.lock:
            old, self._artifact, self._failure = self._artifact, new, None
        return old

    def release(self, art: A) -> None:
        """Free `art`, an artifact `replace` handed back (never the one being served)."""
        with self.lock:
            if art is not self._artifact:
                self._release(art)

    def drop(self, art: Artifact, exc: Exception) -> None:
        """`art` failed a read: release it (if it is still the open one) so the next use reopens and re-verifies."""
        with self.lock:
            if self._artifact is not None and self._artifact is art:
                logger.error("artifact failed a query, reopening on next use: %s", exc)
                self._release(self._artifact)
                self._artifact = None
                self._failure = ArtifactUnavailable("artifact_unreadable", f"artifact failed a query: {exc}")
                self._failed_at = self._clock()

    def swap(self, old: A, new: A) -> A:
        """Serve `new` instead of `old` (a store that found a newer build) and free `old`, unless another thread
        already put a third in its place: then that one is kept and returned."""
        with self.lock:
            current = self._artifact
            if current is not None and current is not old:
                return current
            if current is not None:
                self._release(current)
            self._artifact, self._failure = new, None
            return new

    def close(self) -> None:
        """Release the open artifact, if any; the next use opens it again."""
        with self.lock:
            if self._artifact is not None:
                self._release(self._artifact)
                self._artifact = None
