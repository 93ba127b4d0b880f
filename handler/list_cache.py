"""Each movie's similar and next-movies lists as a person's fold reads them, kept per artifact once read.

Folding a person's 50 latest ratings into their list reads 50 similar lists (2,500 rows on the embedded build):
one DuckDB query took 2-4 ms of a ~9 ms answer, most of it a scan (a list parameter does not prune by zone map),
and the popular movies come back in nearly everyone's ratings. A list read once is kept as two arrays (ids as
int32, scores as float64: 12 bytes a neighbour), so the similar lists of all 62k movies of an ML-25M build take
about 40 MB; past `max_entries` neighbours the cache starts over. Scores are kept exactly as read, so a fold
from the cache is bit-equal to one from the artifact.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable

MAX_ENTRIES = 4_000_000

_NONE = (array("i"), array("d"))  # a movie without a list: remembered, so it is not asked for again


class ListCache:
    """{movie: its list} for one artifact's table. Safe from several threads: a reader only adds whole entries
    (a race reads a list twice, never a half one); a clear on overflow costs the next readers a query."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._lists: dict[int, tuple[array, array]] = {}
        self._entries = 0
        self.max_entries = max_entries

    def lists(self, movie_ids: Iterable[int],
              read: Callable[[list[int]], list]) -> dict[int, dict[int, float]]:
        """{movie: {other: score}} of the given movies that have a list, in movie id order (a fold adds its sums
        in that order, so equal inputs give bit-equal scores). `read(ids)` gives (movie, other, score) rows of
        the ids not held yet, in any order (RowSource.neighbours or .following)."""
        wanted = sorted(set(movie_ids))
        held = self._lists
        fresh = self._add([m for m in wanted if m not in held], read)
        out: dict[int, dict[int, float]] = {}
        for movie_id in wanted:
            ids, scores = fresh.get(movie_id) or held.get(movie_id, _NONE)
            if ids:
                out[movie_id] = dict(zip(ids, scores, strict=True))
        return out

    def _add(self, missing: list[int], read: Callable[[list[int]], list]) -> dict[int, tuple[array, array]]:
        if not missing:
            return {}
        grouped: dict[int, tuple[list[int], list[float]]] = {movie_id: ([], []) for movie_id in missing}
        for movie_id, other, score in read(missing):
            ids, scores = grouped[movie_id]
            ids.append(other)
            scores.append(score)
        fresh = {movie_id: (array("i", ids), array("d", scores)) if ids else _NONE
                 for movie_id, (ids, scores) in grouped.items()}
        added = sum(len(ids) for ids, _ in fresh.values()) + len(fresh)
        if self._entries + added > self.max_entries:
            self._lists = {}
            self._entries = 0
        self._lists.update(fresh)
        self._entries += added
        return fresh
