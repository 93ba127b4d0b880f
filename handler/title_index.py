"""Title search held in memory, because DuckDB's `contains` scan was the slowest lookup.

At ML-25M size (62k titles, 2.8 MB of search keys) a `contains` scan costs ~3.5 ms on one
thread — more than every other endpoint together, and it stalls the event loop for the rest.
Here a token is first looked up in the (much smaller) list of distinct title words: a rare
token resolves to a few posting lists. A common one is found by scanning all keys, joined in
popularity order, with CPython's C substring search, stopping as soon as enough rows match.
Title-prefix tiers come from bisecting a sorted copy of the keys.

The answers are those of the SQL it replaced plus one tier (the tests compare the two): movies
whose search_key contains every token; an exact display title first, then titles starting with
the phrase (with or without its leading article), then titles where every token starts a word
("emma" finds "Emma" before "Dilemma"), then most rated, then lowest movie id.

When that leaves the list short and a token of 4+ characters is in no title at all, the token is
taken for a typo: title words one edit away (insertion, deletion, substitution or transposition)
stand in for it, found through an index of every word with one character deleted (SymSpell's
idea), and their titles follow, the closest and most rated word first.
"""

from __future__ import annotations

import heapq
import itertools
import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator
from functools import cached_property
from operator import itemgetter

_AFTER_EVERY_CHAR = "\U0010ffff"  # prefix + this bounds every string that starts with prefix
_WORD = re.compile(r"\w+")
MIN_TYPO_LENGTH = 4  # shorter tokens are still being typed, or too short to guess
MAX_CORRECTIONS = 3  # words tried per misspelt token


def word_key(text: str) -> str:
    """Words only, each after one space: " godfather the 1972". A token starts a word of a key exactly
    when word_key(token) occurs in word_key(key)."""
    return "".join(" " + w for w in _WORD.findall(text))


def _deletes(word: str) -> set[str]:
    return {word[:i] + word[i + 1:] for i in range(len(word))}


def edit_distance(a: str, b: str) -> int:
    """Optimal-string-alignment distance: insertions, deletions, substitutions, adjacent transpositions."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            d = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                d = min(d, prev2[j - 2] + 1)
            cur.append(d)
        prev2, prev = prev, cur
    return prev[-1]


def _having(rows: list[int], texts: list[str], parts: list[str], chunk: int = 512) -> Iterable[int]:
    """The rows whose text contains every part, in order, filtered a chunk at a time by one comprehension
    per part: checking candidates one by one through the tiers' predicates was most of a search's time
    when common words left thousands of them (5-8 ms at ML-25M), and chunks keep the early stop at
    `limit` when most candidates match."""
    if not parts:
        return rows

    def filtered() -> Iterator[int]:
        for start in range(0, len(rows), chunk):
            kept = rows[start:start + chunk]
            for part in parts:
                kept = [row for row in kept if part in texts[row]]
            yield from kept

    return filtered()


def _in_every(groups: list[list[tuple[int, ...]]]) -> set[int]:
    """The rows in the union of every group's postings, for every group: a set is built for the smallest
    group only, the others are intersected into it (building a set per group was most of the time of a
    query of several words)."""
    groups = sorted(groups, key=lambda group: sum(map(len, group)))
    rows: set[int] = set().union(*groups[0])
    for group in groups[1:]:
        if not rows:
            break
        if len(group) == 1:
            rows.intersection_update(group[0])
        else:
            rows = set().union(*(rows.intersection(posting) for posting in group))
    return rows


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
        columns = list(zip(*ordered, strict=True)) or [(), (), ()]
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
        self.word_keys = [word_key(key) for key in self.keys]
        self._word_key_lines = _Lines(self.word_keys)
        starts: dict[str, list[int]] = {}
        for row, key in enumerate(self.word_keys):
            for word in set(key.split()):
                starts.setdefault(word, []).append(row)
        self._plain_words = sorted(starts)  # title words, for the rows where some word starts with a token
        self._plain_postings = [tuple(starts[w]) for w in self._plain_words]

    def search(self, tokens: list[str], phrase: str, stripped: str, limit: int) -> list[int]:
        """Rows (best first, at most `limit`) whose key contains every token, then typo corrections."""
        if limit <= 0 or not tokens:
            return []
        found: list[int] = []
        taken: set[int] = set()
        if self._collect(tokens, phrase, stripped, limit, found, taken) or len(found) == limit:
            return found
        for corrected in self._corrections(tokens):
            self._collect(corrected, None, None, limit, found, taken)
            if len(found) == limit:
                break
        return found

    def _collect(self, tokens: list[str], phrase: str | None, stripped: str | None, limit: int,
                 found: list[int], taken: set[int]) -> bool:
        """Append matching rows tier by tier until `limit`; True when the limit was reached."""
        keys, word_keys = self.keys, self.word_keys
        starts = [word_key(t) for t in tokens]  # " word": the token at a word's start

        def matches(row: int) -> bool:
            key = keys[row]
            return all(t in key for t in tokens)

        def starts_words(row: int) -> bool:
            key = word_keys[row]
            return all(w in key for w in starts)

        # A tier is complete whenever the next one is reached: one that fills the limit ends the search.
        # Streams are made only when their tier is reached (a later tier's setup costs more than a hit).
        tiers: list[tuple[Callable[[], Iterable[int]], Callable[[int], bool]]] = []
        if phrase is not None:
            assert stripped is not None  # search passes both; typo corrections neither
            for prefixes in ((phrase + " |",), (phrase, stripped)):
                def starting_any(prefixes: tuple[str, ...] = prefixes) -> Iterable[int]:
                    return heapq.merge(*(self._starting(p) for p in dict.fromkeys(prefixes)))

                tiers.append((starting_any, matches))
        if all(starts):
            tiers.append((lambda: self._starting_words(starts), lambda row: starts_words(row) and matches(row)))
        tiers.append((lambda: self._containing_all(tokens), matches))
        for stream, accept in tiers:
            for row in stream():
                if row not in taken and accept(row):
                    found.append(row)
                    taken.add(row)
                    if len(found) == limit:
                        return True
        return False

    def _starting_words(self, starts: list[str]) -> Iterable[int]:
        """Ascending rows where a word starts with each of `starts` (a superset of the tier when a start
        spans words): the rows of every start that is not common, intersected, then checked for the rest."""
        groups: list[list[tuple[int, ...]]] = []
        unchecked: list[str] = []  # starts the gathered rows do not settle: common ones, and those spanning words
        for start in starts:
            first, *rest = start.split()
            lo = bisect_left(self._plain_words, first)
            hi = bisect_left(self._plain_words, first + _AFTER_EVERY_CHAR, lo)
            postings = self._plain_postings[lo:hi]
            if hi - lo > self._few_words or sum(map(len, postings)) > self._few_rows:
                unchecked.append(start)
                continue
            groups.append(postings)
            if rest:
                unchecked.append(start)
        if not groups:  # only common word starts: scan the keys in row order, which finds them early
            return self._word_key_lines.containing(max(starts, key=len))
        return _having(sorted(_in_every(groups)), self.word_keys, unchecked)

    def _corrections(self, tokens: list[str]) -> Iterator[list[str]]:
        """Token lists with each misspelt token (4+ characters, in no title) replaced by close title words."""
        options: list[list[str]] = []
        for token in tokens:
            if len(token) >= MIN_TYPO_LENGTH and token.isalnum() and self._rare_postings(token) == []:
                close = self._close_words(token)
                if not close:
                    return
                options.append(close)
            else:
                options.append([token])
        if all(len(o) == 1 and o[0] == t for o, t in zip(options, tokens, strict=True)):
            return
        yield from itertools.islice((list(c) for c in itertools.product(*options)), MAX_CORRECTIONS ** 2)

    def _close_words(self, token: str) -> list[str]:
        """Title words one edit from `token`, closest first, then those of the most rated titles."""
        deletes = self._deletes
        candidates: set[int] = set()
        for probe in (token, *_deletes(token)):
            candidates.update(deletes.get(probe, ()))
        words, postings = self._plain_words, self._plain_postings
        scored = sorted((edit_distance(token, words[w]), postings[w][0], words[w]) for w in candidates)
        return [word for distance, _, word in scored if distance <= 1][:MAX_CORRECTIONS]

    @cached_property
    def _deletes(self) -> dict[str, tuple[int, ...]]:
        """Each title word (3+ characters) and each of its one-character deletions -> word positions.
        Built on the first misspelt query, not with the index."""
        index: dict[str, list[int]] = {}
        for i, word in enumerate(self._plain_words):
            if len(word) >= MIN_TYPO_LENGTH - 1:
                for probe in (word, *_deletes(word)):
                    index.setdefault(probe, []).append(i)
        return {probe: tuple(ids) for probe, ids in index.items()}

    def _starting(self, prefix: str) -> Iterable[int]:
        """Rows whose key starts with `prefix`, ascending."""
        lo = bisect_left(self._sorted_keys, prefix)
        hi = bisect_left(self._sorted_keys, prefix + _AFTER_EVERY_CHAR, lo)
        if hi - lo <= self._small_range:
            return sorted(self._sorted_rows[lo:hi])
        return self._key_lines.containing("\n" + prefix)  # many rows: the first ones in row order come quickly

    def _containing_all(self, tokens: list[str]) -> Iterable[int]:
        """Ascending rows that may contain every token (a superset when only common tokens are given)."""
        gathered = [(token, self._rare_postings(token)) for token in tokens]
        groups = [postings for _, postings in gathered if postings is not None]
        if not groups:
            return self._key_lines.containing(max(tokens, key=len))
        common = [token for token, postings in gathered if postings is None]
        return _having(sorted(_in_every(groups)), self.keys, common)

    def _rare_postings(self, token: str) -> list[tuple[int, ...]] | None:
        """The postings of the words containing `token` (their union: the rows whose key contains it; [] when
        no word does), or None when the token is too common to gather this way. Counted, not built: a
        common token costs a few additions, not a discarded set."""
        words = list(itertools.islice(self._words.containing(token), self._few_words + 1))
        postings = [self._postings[word] for word in words]
        if len(words) > self._few_words or sum(map(len, postings)) > self._few_rows:
            return None
        return postings
