"""`latentlens.open(...)`: the lookup API in Python, over the same store and the same answer code as HTTP.

A Lens is a read-only view of one build: a DuckDB artifact on disk, its copy on S3 (`s3://bucket/key`),
or a table published to DynamoDB (`dynamodb://NAME`). Every lookup method returns what the matching HTTP
endpoint answers, as the API's own pydantic models (latentlens.handler.models): both call
latentlens.handler.answers on a latentlens.handler.store, so the two cannot disagree. The methods are the
rows of the lookup table (latentlens.handler.lookups), so a new lookup needs no change here.

Errors: a parameter out of the HTTP API's bounds (n and limit 1..100, ids 1..2**31-1, stars 0.5..5 in
half stars, at most 50 rated movies, an unknown genre, a search without a letter or digit) raises
`latentlens.InvalidParameter`, a ValueError; an unknown movie raises `latentlens.NotFound`, a
LookupError (an unknown *user* is not an error: like HTTP, they get the popular list, `source="popular"`);
an artifact that cannot be served raises `latentlens.ArtifactUnavailable` naming the source and the
reason (artifact_missing, manifest_missing, checksum_mismatch, schema_too_old, ...); a lookup on a closed Lens,
or one that starts while another thread closes it, raises `latentlens.LensClosed` (an ArtifactUnavailable,
reason lens_closed). A setting `open` does not know is a TypeError naming it and the known ones.
"""

from __future__ import annotations

import difflib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from latentlens.handler.artifact import ArtifactUnavailable
from latentlens.handler.lookups import Lookup, Lookups
from latentlens.handler.settings import Settings
from latentlens.handler.store import Store, guarded_call
from latentlens.handler.stores import audience_for, make_store

if TYPE_CHECKING:
    import polars as pl

R = TypeVar("R")

# open()'s keyword settings: every field of the handler's Settings but `db`, which is open's first argument
SETTINGS = tuple(sorted(name for name in Settings.model_fields if name != "db"))


class LensClosed(ArtifactUnavailable):
    """A lookup (or sql) on a Lens after close(), or racing it: open the build again to ask more."""

    def __init__(self, source: str) -> None:
        super().__init__("lens_closed", f"{source}: this Lens is closed (latentlens.open it again)")


def _check_settings(settings: dict[str, Any]) -> None:
    """TypeError for a keyword `open` does not know: Settings ignores unknown fields (other code reads
    LATENTLENS_* variables too), so a typo such as `verify_checksums=False` would otherwise change nothing."""
    unknown = sorted(set(settings) - set(SETTINGS))
    if not unknown:
        return
    close = difflib.get_close_matches(unknown[0], SETTINGS, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise TypeError(f"latentlens.open() got unknown setting{'s' if len(unknown) > 1 else ''} "
                    f"{', '.join(map(repr, unknown))}{hint}; the settings are: {', '.join(SETTINGS)}")


def open(source: str | os.PathLike[str], **settings: Any) -> Lens:
    """Open a build for lookups: a `.duckdb` artifact path, `s3://bucket/key`, or `dynamodb://NAME`.

    Keyword arguments are fields of latentlens.handler.settings.Settings (e.g. `tmp_dir`,
    `verify_checksum`, `s3_endpoint_url`, `dynamodb_endpoint_url`; `events` to fold people's latest ratings
    into their lists, `experiment` to answer with their arm, as the API does); the rest come from the same
    LATENTLENS_* environment variables `latentlens serve` reads; any other keyword is a TypeError. The
    artifact is opened and verified here, so a missing or broken one raises ArtifactUnavailable now, not at
    the first lookup."""
    _check_settings(settings)
    db = os.fspath(source)
    values = Settings(**{**settings, "db": db})
    store = make_store(values, audience_for(values))
    try:
        store.artifact()
    except ArtifactUnavailable as exc:
        store.close()
        store.audience.close()
        raise ArtifactUnavailable(exc.reason, f"cannot open {db} ({exc.reason}): {exc.message}") from None
    return Lens(store)


class _Gate:
    """Lookups pass while the Lens is open; shut() lets no new one in and waits for those inside, so no lookup
    ever runs on a connection being closed (DuckDB would raise its own ConnectionException in that thread)."""

    def __init__(self) -> None:
        self._state = threading.Condition()
        self._inside = 0
        self._shut = False

    @contextmanager
    def passage(self, source: str) -> Iterator[None]:
        with self._state:
            if self._shut:
                raise LensClosed(source)
            self._inside += 1
        try:
            yield
        finally:
            with self._state:
                self._inside -= 1
                if self._inside == 0:
                    self._state.notify_all()

    def shut(self) -> None:
        with self._state:
            self._shut = True
            self._state.wait_for(lambda: self._inside == 0)


class Lens(Lookups):
    """Read-only lookups over one build; see latentlens.lens for the errors. Use as a context manager,
    or call close(). Safe to share between threads (each thread gets its own DuckDB cursor; close() waits
    for their lookups). A Lens keeps the build it opened: open again to see a rebuilt artifact."""

    # The lookups are the rows of latentlens.handler.lookups.Lookups, inherited as methods; each runs _ask.

    def __init__(self, store: Store) -> None:
        self._store = store
        self._gate = _Gate()

    @property
    def source(self) -> str:
        """What was opened: the path, s3:// or dynamodb:// URI."""
        return self._store.settings.db

    def __repr__(self) -> str:
        return f"<latentlens.Lens {self.source!r}>"

    def __enter__(self) -> Lens:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the artifact's connection once the lookups other threads are running have finished; a lookup
        after it (or starting while it waits) raises LensClosed. Closing again does nothing."""
        self._gate.shut()
        self._store.close()
        self._store.audience.close()

    def _ask(self, lookup: Lookup[..., R], /, *args: Any, **kwargs: Any) -> R:
        """One lookup as its route answers it: the answer function over the artifact and this thread's reads."""
        with self._gate.passage(self.source):
            art, rows = self._store.rows()
            body = guarded_call(self._store, art, lookup.answer, art, rows, *args, **kwargs)
        return lookup.result(body)

    def sql(self, query: str, params: list | dict | None = None) -> pl.DataFrame:
        """Read-only SQL against the artifact (tables in latentlens.handler.schema), as a polars DataFrame.

        `?` or `$name` parameters bind `params`. DuckDB artifacts only (a local file or its s3:// copy);
        needs polars (the `build` extra). The connection is read-only with external access off, so a
        query cannot write or read other files; DuckDB's own exceptions (duckdb.Error) report bad SQL."""
        with self._gate.passage(self.source):
            art = self._store.artifact()
            if art.conn is None:
                raise ValueError(f"{self.source}: SQL needs a DuckDB artifact; a DynamoDB table answers the "
                                 "lookups only (open the .duckdb file, or its s3:// copy, for SQL)")
            try:
                import polars as pl
            except ImportError:
                raise ImportError("Lens.sql needs polars: pip install 'latentlens[build]'") from None
            cur = art.conn.cursor()
            try:
                relation = cur.sql(query, params=params)
                return pl.DataFrame() if relation is None else relation.pl()  # None: a statement without rows
            finally:
                cur.close()
