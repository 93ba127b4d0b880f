"""Title search held in memory, because DuckDB's `contains` scan was the slowest lookup.

At ML-25M size (62k titles, 2.8 MB of search keys) a `contains` scan costs ~3.5 ms on one
thread — more than every other endpoint together, and it stalls the event loop for the rest.
Here a token is first looked up in the (much smaller) list of distinct title words: a rare
token resolves to a few posting lists. A common one is found by scanning all keys, joined in
popularity order, with CPython's C substring search, stopping as soon as enough rows match.
Title-prefix tiers come from bisecting a sorted copy of the keys.

The answers are those of the SQL it replaced (the tests compare the two): movies whose
search_key contains every token; an exact display title first, then titles starting with the
phrase (with or without its leading article), then most rated, then lowest movie id.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
from operator import itemgetter

_AFTER_EVERY_CHAR = "\U0010ffff"  # prefix + this bounds every string that starts with prefix


class _Lines:
    """Strings joined as "\\nA\\nB...", so one C-level find locates a substring and bisect names its line."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.blob = "".join("\n" + line for line in lines)
        self.starts: list[int] = []
        pos = 0
        for line in lines:
            self.starts.append(pos)
            pos += len(line) + 1

    def containing(self, pattern: str) -> Iterator[int]:
        """Indexes of the lines whose newline-prefixed text contains `pattern`, ascending, each once."""
        blob, starts, lines = self.blob, self.starts, self.lines
        pos = 0
        while (hit := blob.find(pattern, pos)) >= 0:
            i = bisect_right(starts, hit) - 1
            yield i
            pos = starts[i] + len(lines[i]) + 1


class TitleIndex:
    """Search keys of every movie, ranked by (n_ratings desc, movie_id); row = position in that order."""

    def __init__(self, rows: Iterable[tuple[int, int, str]], *, small_range: int = 256, few_words: int = 64,
                 few_rows: int = 4096) -> None:
        """`rows`: (movie_id, n_ratings, search_key); keys hold no newline (the build folds whitespace).

        A title-prefix range of at most `small_range` keys is sorted outright, a larger one scanned in
        row order; a token inside more than `few_words` distinct words, or words of more than
        `few_rows` titles, is common and found by scanning the keys rather than gathered from postings.
        """
        self._small_range, self._few_words, self._few_rows = small_range, few_words, few_rows
        ordered = sorted(rows, key=itemgetter(0))
        ordered.sort(key=itemgetter(1), reverse=True)  # stable: equal counts keep ascending movie ids
        columns = list(zip(*ordered)) or [(), (), ()]
        self.movie_ids, self.n_ratings, self.keys = (list(column) for column in columns)
        self._key_lines = _Lines(self.keys)
        by_key = sorted(range(len(self.keys)), key=self.keys.__getitem__)
        self._sorted_keys = [self.keys[r] for r in by_key]
        self._sorted_rows = by_key
        # A token has no whitespace, so each of its occurrences lies inside one space-separated word.
        postings: dict[str, list[int]] = {}
        for row, key in enumerate(self.keys):
            for word in set(key.split()):
                postings.setdefault(word, []).append(row)
        self._words = _Lines(list(postings))
        self._postings = [tuple(rows) for rows in postings.values()]  # tuples of ints: untracked by the GC

    def search(self, tokens: list[str], phrase: str, stripped: str, limit: int) -> list[int]:
        """Rows (best first, at most `limit`) whose key contains every token."""
        if limit <= 0 or not tokens:
            return []
        keys = self.keys

        def matches(row: int) -> bool:
            key = keys[row]
            return all(t in key for t in tokens)

        found: list[int] = []
        taken: set[int] = set()
        # A tier is complete whenever the next one is reached: one that fills the limit ends the search.
        for prefixes in ((phrase + " |",), (phrase, stripped)):
            streams = [self._starting(p) for p in dict.fromkeys(prefixes)]
            for row in heapq.merge(*streams):
                if row not in taken and matches(row):
                    found.append(row)
                    taken.add(row)
                    if len(found) == limit:
                        return found
        for row in self._containing_all(tokens):
            if row not in taken and matches(row):
                found.append(row)
                if len(found) == limit:
                    break
        return found

    def _starting(self, prefix: str) -> Iterable[int]:
        """Rows whose key starts with `prefix`, ascending."""
        lo = bisect_left(self._sorted_keys, prefix)
        hi = bisect_left(self._sorted_keys, prefix + _AFTER_EVERY_CHAR, lo)
        if hi - lo <= self._small_range:
            return sorted(self._sorted_rows[lo:hi])
        return self._key_lines.containing("\n" + prefix)  # many rows: the first ones in row order come quickly

    def _containing_all(self, tokens: list[str]) -> Iterable[int]:
        """Ascending rows that may contain every token (a superset when only common tokens are given)."""
        rare = [rows for rows in map(self._rows_with_rare, tokens) if rows is not None]
        if not rare:
            return self._key_lines.containing(max(tokens, key=len))
        rare.sort(key=len)
        return sorted(rare[0].intersection(*rare[1:]))

    def _rows_with_rare(self, token: str) -> set[int] | None:
        """Rows whose key contains `token`, or None when the token is too common to gather this way."""
        rows: set[int] = set()
        for n, word in enumerate(self._words.containing(token)):
            if n == self._few_words:
                return None
            posting = self._postings[word]
            if len(rows) + len(posting) > self._few_rows:
                return None
            rows.update(posting)
        return rows
