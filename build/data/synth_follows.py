"""What a synthetic user rates next after what they just rated: a shared "follows" graph among movies.

On ml-latest-small the order's worth to a sequential model comes from successions shared across users (the same
movie right after the same movie, as a site's pages lead people from one film to the next; docs/data.md). Here a
movie chosen through a taste row (or popularity) has follow_successors successors, drawn from that row's choice
distribution by a hash of (seed, row, movie, rank): one graph per dataset, shared by every user, never stored whole
(a table of each row's quantiles is). Inside a session a walk reorders what the user already chose: each next movie
is, with probability follow_share, the first successor of the current one the user also chose there and has not
rated yet, else the earliest not yet rated in the order so far. Only the order moves, never the choice: per-movie
counts, ratings and taste statistics stay as drawn. Off unless follow_share > 0 (docs/data.md says why).

Vectorised over sessions: the walk takes one step for every session at once, over segments of at most
follow_window draws, so its Python loop runs follow_window times per block of users whatever the data's size.
"""

from __future__ import annotations

import numpy as np

from latentlens.build.data.synth_settings import SynthSettings

QUANTILES = 4096  # a row's successors are drawn from this many quantiles of its choice distribution


def follow_table(rows: np.ndarray) -> np.ndarray:
    """(choice rows, QUANTILES) int32: the movie at each quantile of each row's choice weights (`rows`: (rows,
    movies) weights, row 0 popularity). Successors are looked up here."""
    cdf = np.cumsum(rows / rows.sum(axis=1, keepdims=True), axis=1)
    at = (np.arange(QUANTILES) + 0.5) / QUANTILES
    return np.stack([np.minimum(np.searchsorted(c, at, side="right"), c.size - 1) for c in cdf]).astype(np.int32)


def successors(s: SynthSettings, table: np.ndarray, row: np.ndarray, item: np.ndarray) -> np.ndarray:
    """(draws, follow_successors): what follows each movie chosen through a row, the same for every user (a hash
    of seed, row, movie and rank picks the quantile)."""
    rank = np.arange(s.follow_successors, dtype=np.uint64)[None, :]
    h = (item.astype(np.uint64)[:, None] * np.uint64(0x9E3779B97F4A7C15)
         + row.astype(np.uint64)[:, None] * np.uint64(0xBF58476D1CE4E5B9)
         + rank * np.uint64(0x94D049BB133111EB) + np.uint64(s.seed))
    h ^= h >> np.uint64(31)
    h *= np.uint64(0xD6E8FEB86659FD93)
    h ^= h >> np.uint64(32)
    return table[row[:, None], (h % np.uint64(table.shape[1])).astype(np.int64)]


def follow_order(rng: np.random.Generator, s: SynthSettings, table: np.ndarray, session: np.ndarray,
                 row: np.ndarray, item: np.ndarray) -> np.ndarray:
    """The permutation of draws already in rating order (`session` ascending) that walks the follows inside each
    session; the identity when follow_share is 0 (and no random numbers drawn, so the rest of the block is as
    without follows)."""
    n = item.size
    if n == 0 or s.follow_share <= 0 or s.follow_successors == 0:
        return np.arange(n)
    within = np.arange(n) - np.searchsorted(session, session)
    segment = session.astype(np.int64) * (1 + n // s.follow_window) + within // s.follow_window
    after = successors(s, table, row, item)
    present = _present(after, segment, item, int(max(item.max(), after.max())) + 1)
    place = _walk(rng, s, present, segment)
    return np.argsort(segment * (s.follow_window + 1) + place, kind="stable")


def _present(after: np.ndarray, segment: np.ndarray, item: np.ndarray, n_items: int) -> np.ndarray:
    """(draws, k): the draw of the same segment rating each successor, -1 where the user did not choose it."""
    code = segment * n_items + item
    by_code = np.argsort(code, kind="stable")
    query = segment[:, None] * n_items + after
    pos = np.minimum(np.searchsorted(code[by_code], query), item.size - 1)
    return np.where(code[by_code][pos] == query, by_code[pos], -1)


def _walk(rng: np.random.Generator, s: SynthSettings, present: np.ndarray, segment: np.ndarray) -> np.ndarray:
    """Each draw's step in its segment's walk: from the segment's first draw, a present successor not yet walked
    with probability follow_share, else the earliest draw not yet walked."""
    n = segment.size
    starts = np.flatnonzero(np.r_[True, segment[1:] != segment[:-1]])
    length = np.diff(np.r_[starts, n])
    used = np.zeros(n, dtype=bool)
    place = np.zeros(n, dtype=np.int64)
    cur, ptr = starts.copy(), starts.copy()
    used[cur] = True
    for step in range(1, int(length.max())):
        live = np.flatnonzero(length > step)
        cand = present[cur[live]]
        ok = cand >= 0
        ok[ok] = ~used[cand[ok]]
        follow = ok.any(axis=1) & (rng.random(live.size) < s.follow_share)
        nxt = np.where(follow, cand[np.arange(live.size), np.argmax(ok, axis=1)], -1)
        jump = live[~follow]
        while (stuck := jump[used[ptr[jump]]]).size:  # the earliest not yet walked, for those that do not follow
            ptr[stuck] += 1
        nxt[~follow] = ptr[jump]
        used[nxt] = True
        place[nxt] = step
        cur[live] = nxt
    return place
