"""The movies an answer names, read from the artifact as answers first need them.

Reading all 62k movies of an ML-25M artifact into Python objects at open took ~200 ms of every cold start,
for a first answer that names about 100 of them. `LazyMovies` reads what a request asks for in one small
DuckDB query (`want`) and keeps it, so the map fills as the API is used; a DynamoDB build, whose catalogue
arrives whole, keeps the plain `Movies` (same interface, nothing to read).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import duckdb

from latentlens.handler import schema


class MovieRow(NamedTuple):
    """A movie as the handler keeps it in memory (every answer's titles come from these); a tuple, so the
    map stays as small and as fast to fill as it was before it had names."""

    movie_id: int
    title: str
    display_title: str
    year: int | None
    genres: list[str]


class Movies(dict[int, MovieRow]):
    """Every movie, already in memory: `want` has nothing to do."""

    def want(self, movie_ids: Iterable[int]) -> None:
        """Make the given ids' lookups cheap (a no-op here: all are held)."""


# Genres travel as one '|'-joined string (MovieLens' own separator) and are split once per distinct
# combination: converting DuckDB lists to Python lists costs more than the rest of the row.
_ALL_ROWS = f"SELECT movie_id, title, display_title, year, array_to_string(genres, '|') FROM {schema.MOVIES}"
_ROWS = f"{_ALL_ROWS} WHERE movie_id IN (SELECT unnest($ids))"


class LazyMovies(Movies):
    """Movies read from the artifact on first use and kept; an id the artifact lacks is remembered as absent.

    Lookups (`get`, `in`, `[]`) of an id not read yet read it alone; answers call `want` with every id they
    are about to name first, so a list of 100 costs one query. Safe from several threads: each read uses its
    own cursor and only adds entries (a race reads a row twice, never loses one)."""

    def __init__(self, conn: duckdb.DuckDBPyConnection) -> None:
        super().__init__()
        self._conn = conn
        self._absent: set[int] = set()
        self._genre_lists: dict[str, list[str]] = {}
        self._complete = False

    def want(self, movie_ids: Iterable[int]) -> None:
        if self._complete:
            return
        missing = [i for i in movie_ids if not dict.__contains__(self, i) and i not in self._absent]
        if missing:
            self._add(self._read(_ROWS, {"ids": missing}))
            self._absent.update(i for i in missing if not dict.__contains__(self, i))

    def load_all(self) -> LazyMovies:
        """Every movie (what iterating or counting the map needs, e.g. the DynamoDB publisher's catalogue)."""
        if not self._complete:
            rows = self._read(_ALL_ROWS, None)
            dict.clear(self)  # refilled in the artifact's order, whatever was read before (a lookup meanwhile
            self._add(rows)   # reads its row again)
            self._complete = True
        return self

    def _read(self, sql: str, params: dict | None) -> list[tuple]:
        cur = self._conn.cursor()
        try:
            return cur.execute(sql, params).fetchall()
        finally:
            cur.close()

    def _add(self, rows: list[tuple]) -> None:
        for movie_id, title, display_title, year, joined in rows:
            genres = self._genre_lists.get(joined)
            if genres is None:
                genres = self._genre_lists[joined] = joined.split("|") if joined else []
            dict.__setitem__(self, movie_id, MovieRow(movie_id, title, display_title, year, genres))

    def get(self, movie_id: int, default: MovieRow | None = None) -> MovieRow | None:  # type: ignore[override]
        row = dict.get(self, movie_id)  # the hot path: a movie already read costs one dict lookup
        if row is None:
            self.want((movie_id,))
            row = dict.get(self, movie_id)
        return default if row is None else row

    def __contains__(self, movie_id: object) -> bool:
        if not dict.__contains__(self, movie_id) and isinstance(movie_id, int):
            self.want((movie_id,))
        return dict.__contains__(self, movie_id)

    def __missing__(self, movie_id: int) -> MovieRow:
        self.want((movie_id,))
        if dict.__contains__(self, movie_id):
            return dict.__getitem__(self, movie_id)
        raise KeyError(movie_id)

    # A walk over the map sees every movie, not just those read so far.
    def __iter__(self):
        return dict.__iter__(self.load_all())

    def __len__(self) -> int:
        return dict.__len__(self.load_all())

    def keys(self):
        return dict.keys(self.load_all())

    def values(self):
        return dict.values(self.load_all())

    def items(self):
        return dict.items(self.load_all())


def genre_spellings(conn: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Casefolded genre -> its spelling in the artifact (what `genre=` accepts), in one DuckDB query."""
    rows = conn.execute(f"SELECT DISTINCT unnest(genres) FROM {schema.MOVIES}").fetchall()
    return {str(g).casefold(): str(g) for (g,) in rows}
