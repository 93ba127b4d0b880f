"""Read-only lookups: at most one small keyed read per request (a DuckDB query with `?` parameters, or
one DynamoDB item), then the same code turns the rows into the answer whichever store gave them.

Ranked lists come from DuckDB without joins or ORDER BY (both cost more than the lookup itself);
titles come from the artifact's in-memory movie map, title search from its in-memory index
(latentlens.handler.title_index), and ordering is done here on at most a few thousand rows.
Functions know the schema through latentlens.handler.schema and nothing about HTTP.
"""

from __future__ import annotations

import heapq
from collections.abc import Collection
from dataclasses import dataclass
from operator import itemgetter
from typing import Protocol

import duckdb

from latentlens.handler.artifact import Artifact
from latentlens.handler.audience import NOBODY, Audience
from latentlens.handler.limits import MAX_N
from latentlens.handler.schema import (
    BECAUSE_N,
    CHALLENGER_RECOMMENDATIONS,
    MOVIES,
    NEXT_MOVIES,
    REASON_RECENT,
    REASON_SIMILAR,
    RECENT_N,
    SESSION_USERS,
    SIMILAR_MOVIES,
    USER_RECOMMENDATIONS,
)

Cursor = duckdb.DuckDBPyConnection

# The columns of each keyed read, named once: the DuckDB SQL below selects them, and the DynamoDB
# publisher packs exactly these per key (a column added here flows into its items unchanged).
USER_COLUMNS = ("rank", "movie_id", "score", "because")
SIMILAR_COLUMNS = ("rank", "similar_movie_id", "score", "source")
NEXT_COLUMNS = ("rank", "next_movie_id", "score")
_MOVIE_KEYS = ("movie_id", "title", "display_title", "year", "genres", "imdb_id", "tmdb_id", "n_ratings", "mean_rating")
MOVIE_COLUMNS = _MOVIE_KEYS

_USER = f"SELECT {', '.join(USER_COLUMNS)} FROM {USER_RECOMMENDATIONS} WHERE user_id = ?"
_CHALLENGER = f"SELECT {', '.join(USER_COLUMNS)} FROM {CHALLENGER_RECOMMENDATIONS} WHERE user_id = ?"
_SESSION_USER = f"SELECT user_id FROM {SESSION_USERS} WHERE session_sha256 = ?"
_SIMILAR = f"SELECT {', '.join(SIMILAR_COLUMNS)} FROM {SIMILAR_MOVIES} WHERE movie_id = ?"
_MOVIE = f"SELECT {', '.join(MOVIE_COLUMNS)} FROM {MOVIES} WHERE movie_id = ?"

# "Liked" lists are summed here, not in SQL: DuckDB's GROUP BY + list() + ORDER BY over the
# <= 2,500 neighbour rows cost twice the plain fetch (1.5 vs 0.7 ms at ML-25M).
_LIKED = f"SELECT movie_id, similar_movie_id, score FROM {SIMILAR_MOVIES} WHERE movie_id = ANY(?)"
_FOLLOWING = f"SELECT movie_id, next_movie_id, score FROM {NEXT_MOVIES} WHERE movie_id = ANY(?)"


class RowSource(Protocol):
    """The keyed reads every answer below is computed from; each store implements them. `audience` is who may
    ask: the event store and experiment of the app or Lens the reads serve (latentlens.handler.audience)."""

    audience: Audience

    def user(self, user_id: int) -> list:
        """The user's stored rows (USER_COLUMNS), any order; empty when the user is unknown."""

    def challenger(self, user_id: int) -> list:
        """The user's rows of the challenger's lists (USER_COLUMNS), any order; empty when it has none for them."""

    def session_user(self, session_sha256: str) -> int | None:
        """The build user a session was trained as (session_users, by the sha256 hex of its id), or None."""

    def movie(self, movie_id: int) -> tuple | list | None:
        """The movie's row (MOVIE_COLUMNS), or None."""

    def similar(self, movie_id: int) -> list:
        """The movie's neighbour rows (SIMILAR_COLUMNS), any order."""

    def neighbours(self, movie_ids: list[int]) -> list:
        """(movie_id, similar_movie_id, score) of every neighbour of the given movies, any order."""

    def following(self, movie_ids: list[int]) -> list:
        """(movie_id, next_movie_id, score) of the movies rated next after the given movies, any order."""


class DuckDBRows:
    """RowSource over one DuckDB cursor of the artifact."""

    def __init__(self, cur: Cursor, audience: Audience = NOBODY) -> None:
        self.cur, self.audience = cur, audience

    def user(self, user_id: int) -> list:
        return self.cur.execute(_USER, [user_id]).fetchall()

    def challenger(self, user_id: int) -> list:
        return self.cur.execute(_CHALLENGER, [user_id]).fetchall()

    def session_user(self, session_sha256: str) -> int | None:
        row = self.cur.execute(_SESSION_USER, [session_sha256]).fetchone()
        return None if row is None else row[0]

    def movie(self, movie_id: int) -> tuple | None:
        return self.cur.execute(_MOVIE, [movie_id]).fetchone()

    def similar(self, movie_id: int) -> list:
        return self.cur.execute(_SIMILAR, [movie_id]).fetchall()

    def neighbours(self, movie_ids: list[int]) -> list:
        return self.cur.execute(_LIKED, [movie_ids]).fetchall()

    def following(self, movie_ids: list[int]) -> list:
        return self.cur.execute(_FOLLOWING, [movie_ids]).fetchall()


def _item(art: Artifact, movie_id: int, score: float, rank: int) -> dict | None:
    m = art.movies.get(movie_id)
    if m is None:
        return None
    return {"rank": rank, "movie_id": movie_id, "title": m.title, "display_title": m.display_title, "year": m.year,
            "genres": m.genres, "score": score}


def _ranked(art: Artifact, pairs, n: int, genre: str | None) -> list[dict]:
    """(movie_id, score) pairs in rank order -> up to n items, genre-filtered, ranked 1..n."""
    out: list[dict] = []
    for movie_id, score in pairs:
        m = art.movies.get(movie_id)
        if m is None or (genre is not None and genre not in m.genres):
            continue
        out.append({"rank": len(out) + 1, "movie_id": movie_id, "title": m.title, "display_title": m.display_title,
                    "year": m.year, "genres": m.genres, "score": score})
        if len(out) == n:
            break
    return out


def stored(art: Artifact, rows: list, n: int, genre: str | None) -> list[dict] | None:
    """A stored list's rows (USER_COLUMNS: a user's, or the challenger's for them) as the answer's items,
    genre-filtered within the list, each with its stored `because`; None when there are no rows."""
    if not rows:
        return None
    rows.sort(key=itemgetter(0))
    reasons = {r[1]: r[3] for r in rows}
    art.movies.want([r[1] for r in rows] + [b["movie_id"] for r in rows for b in r[3]])  # one read, not 100
    items = _ranked(art, ((r[1], r[2]) for r in rows), n, genre)
    for item in items:
        item["because"] = _reasons(art, _stored_because(reasons[item["movie_id"]]))
    return items


def _stored_because(entries: list) -> list[tuple[int, float, str]]:
    return [(b["movie_id"], b["rating"], b.get("kind") or REASON_SIMILAR) for b in entries]


def popular(art: Artifact, n: int, genre: str | None, without: Collection[int] = ()) -> list[dict]:
    """Overall or per-genre popular list, held in memory since the artifact was opened; `without`: movies left
    out (those a person rated)."""
    pairs = art.popular.get(genre, ())
    art.movies.want(movie_id for movie_id, _ in pairs)
    if without:
        pairs = [(movie_id, score) for movie_id, score in pairs if movie_id not in without]
    return _ranked(art, pairs, n, None)


def movie(src: RowSource, movie_id: int) -> dict | None:
    row = src.movie(movie_id)
    return None if row is None else dict(zip(_MOVIE_KEYS, row, strict=True))


def similar(art: Artifact, src: RowSource, movie_id: int, n: int) -> list[dict] | None:
    """Neighbours of a movie, best first, or None when the movie is unknown."""
    if movie_id not in art.movies:
        return None
    rows = src.similar(movie_id)
    rows.sort()
    art.movies.want(r[1] for r in rows)
    out: list[dict] = []
    for _, sid, score, source in rows:
        item = _item(art, sid, score, len(out) + 1)
        if item is not None:
            item["source"] = source
            out.append(item)
            if len(out) == n:
                break
    return out


NEUTRAL_RATING = 3.0  # a rating above this pulls a movie's neighbours up, below it pushes them down
RATING_SPAN = 2.0  # (rating - neutral) / span: 5 stars weigh 1.0, as a `liked` movie always did
# The latest RECENT_N given movies (the last listed is the latest) also count their next-movies list: the top
# follower of the latest weighs RECENT_WEIGHT x its weight x the score of its most similar movie (so the two
# lists' scales, which differ, meet), followers scaled by their score over the list's best, each step back in
# the order by RECENT_DECAY more (the transitions model's default decay). A chosen default, not tuned.
RECENT_WEIGHT = 0.5
RECENT_DECAY = 0.7


def _reasons(art: Artifact, entries) -> list[dict]:
    """(movie_id, rating, kind) entries -> the `because` entries of a recommendation, skipping unknown ids."""
    out = []
    for movie_id, rating, kind in entries:
        m = art.movies.get(movie_id)
        if m is not None:
            out.append({"movie_id": movie_id, "title": m.title, "display_title": m.display_title, "rating": rating,
                        "kind": kind})
    return out


def _recent_parts(art: Artifact, src: RowSource, weight: dict[int, float],
                  similar: dict[int, dict[int, float]]) -> dict[int, dict[int, float]]:
    """{input: {candidate: contribution}} from the next-movies lists of the latest RECENT_N inputs (the last
    given is the latest): RECENT_WEIGHT x weight x RECENT_DECAY^steps back x the input's best similarity
    (1 when it has no similar list) x score / the list's best score."""
    latest = [m for m in list(weight)[-RECENT_N:] if weight[m] != 0.0]
    if not latest:
        return {}
    back = {movie_id: len(weight) - 1 - i for i, movie_id in enumerate(weight)}
    parts: dict[int, dict[int, float]] = {}
    for movie_id, following in art.next_lists.lists(latest, src.following).items():
        best = max(0.0, *following.values())
        if best > 0:
            similar_best = max(similar[movie_id].values()) if movie_id in similar else 1.0
            scale = RECENT_WEIGHT * weight[movie_id] * RECENT_DECAY ** back[movie_id] * similar_best / best
            parts[movie_id] = {sid: score * scale for sid, score in following.items() if sid not in weight}
    return parts


@dataclass(frozen=True)
class _Fold:
    """What a person's ratings make of their neighbours: each candidate's summed score and how many inputs
    contributed; the inputs' similar lists and recent contributions, read again for `because`."""

    weight: dict[int, float]
    similar: dict[int, dict[int, float]]
    recent: dict[int, dict[int, float]]
    totals: dict[int, float]
    count: dict[int, int]

    def keys(self, leave_out: Collection[int] = ()) -> list[tuple[float, int, int]]:
        """A sort key per candidate scored above zero, best first when sorted: the larger total, then more
        contributing inputs, then the lower id (tuples, so sorting stays in C)."""
        return [(-total, -self.count[sid], sid) for sid, total in self.totals.items()
                if total > 0 and sid not in leave_out]

    def because(self, movie_id: int, ratings: dict[int, float]) -> list[tuple[int, float, str]]:
        similar = [(neighbours[movie_id] * self.weight[m], m) for m, neighbours in self.similar.items()
                   if movie_id in neighbours and self.weight[m] != 0.0]
        recent = [(parts[movie_id], m) for m, parts in self.recent.items() if movie_id in parts]
        return _rated_because(similar, recent, ratings)


def _fold(art: Artifact, src: RowSource, ratings: dict[int, float]) -> _Fold:
    weight = {movie_id: (stars - NEUTRAL_RATING) / RATING_SPAN for movie_id, stars in ratings.items()}
    similar = art.similar_lists.lists(weight, src.neighbours)
    recent = _recent_parts(art, src, weight, similar)
    totals: dict[int, float] = {}
    count: dict[int, int] = {}
    for movie_id, neighbours in similar.items():  # the similar parts first, then the recent ones
        w = weight[movie_id]
        if w != 0.0:
            for sid, score in neighbours.items():
                if sid not in weight:
                    totals[sid] = totals.get(sid, 0.0) + score * w
                    count[sid] = count.get(sid, 0) + 1
    for parts in recent.values():
        for sid, contribution in parts.items():
            totals[sid] = totals.get(sid, 0.0) + contribution
            count[sid] = count.get(sid, 0) + 1
    return _Fold(weight, similar, recent, totals, count)


def _in_genre(art: Artifact, movie_ids: list[int], genre: str | None) -> list[int]:
    """The ids of known movies (of `genre`, when given), in the order given."""
    art.movies.want(movie_ids)
    out = []
    for movie_id in movie_ids:
        m = art.movies.get(movie_id)
        if m is not None and (genre is None or genre in m.genres):
            out.append(movie_id)
    return out


def _top(art: Artifact, keys: list[tuple[float, int, int]], k: int, genre: str | None) -> list[int]:
    """The ids of the best k keys (_Fold.keys) that are known movies (of `genre`, when given), best first."""
    if genre is None:
        return _in_genre(art, [key[2] for key in heapq.nsmallest(k, keys)], None)
    keys.sort()  # a genre may sit far down the order: walk it in steps
    out: list[int] = []
    for start in range(0, len(keys), 4 * k):
        out += _in_genre(art, [key[2] for key in keys[start:start + 4 * k]], genre)
        if len(out) >= k:
            break
    return out[:k]


def rated(art: Artifact, src: RowSource, ratings: dict[int, float], n: int, genre: str | None = None) -> list[dict]:
    """Movies for someone who rated the given movies (id -> stars, in the order rated: the last is the
    latest), excluding them; of `genre` when given.

    Each rated movie's neighbour list counts with weight (stars - 3) / 2: 5 stars add the similarity,
    1 star subtracts it, so a film close to a disliked one sinks. The latest RECENT_N also count the movies
    rated next after them (_recent_parts). Ranked by summed score, then more contributing inputs, then lowest
    id; only positive totals are recommended. `because` names the input with the largest positive "recent"
    contribution first (kind "recent"), then the inputs with the largest positive similarity contributions
    (kind "similar"), at most BECAUSE_N in all."""
    fold = _fold(art, src, ratings)
    best = _top(art, fold.keys(), n, genre)
    art.movies.want(ratings)
    out: list[dict] = []
    for sid in best:
        item = _item(art, sid, fold.totals[sid], len(out) + 1)
        if item is not None:
            item["because"] = _reasons(art, fold.because(sid, ratings))
            out.append(item)
    return out


# Reciprocal rank fusion's constant (Cormack, Clarke and Buettcher, SIGIR 2009: k = 60 "works well"): a list's
# rank r adds 1 / (FUSION_K + r), so the two lists' tops weigh alike and a pick in both ranks above either alone.
FUSION_K = 60


def folded(art: Artifact, src: RowSource, rows: list, ratings: dict[int, float], n: int,
           genre: str | None) -> list[dict]:
    """A stored list (rows, USER_COLUMNS) with a person's latest ratings (`rated`'s input) folded in: the rated
    movies leave it, a stored pick the ratings score below zero (close to a movie rated low and to no movie rated
    high) moves to its end, and the ratings' own picks (`rated`'s order, its best MAX_N) come in. The two rankings
    are merged by reciprocal rank fusion, each item's `score` its fused score (comparable within the answer only),
    a tie going to the ratings' pick, the newer evidence. `because`: the ratings' reasons first, then the stored
    ones, at most BECAUSE_N. The artifact holds no one's ratings, but a movie a stored `because` names is one the person
    rated in the build: it is never brought in."""
    fold = _fold(art, src, ratings)
    rows.sort(key=itemgetter(0))
    seen = {b["movie_id"] for r in rows for b in r[3]}
    art.movies.want([r[1] for r in rows] + list(seen) + list(ratings))
    unrated = [r[1] for r in rows if r[1] not in ratings]
    sunk = [m for m in unrated if fold.totals.get(m, 0.0) < 0]
    kept = _in_genre(art, [m for m in unrated if fold.totals.get(m, 0.0) >= 0] + sunk, genre)
    fresh = _top(art, fold.keys(leave_out=seen), MAX_N, genre)  # a ranking as deep as a stored list at most
    fused = {movie_id: 1.0 / (FUSION_K + rank) for rank, movie_id in enumerate(kept, 1)}
    fresh_rank = {movie_id: rank for rank, movie_id in enumerate(fresh, 1)}
    for movie_id, rank in fresh_rank.items():
        fused[movie_id] = fused.get(movie_id, 0.0) + 1.0 / (FUSION_K + rank)
    last = len(fresh) + 1
    best = heapq.nsmallest(n, fused, key=lambda m: (-fused[m], fresh_rank.get(m, last), m))
    stored_reasons = {r[1]: r[3] for r in rows}
    out: list[dict] = []
    for movie_id in best:
        item = _item(art, movie_id, fused[movie_id], len(out) + 1)
        if item is None:  # never: _in_genre keeps known movies only
            continue
        reasons = fold.because(movie_id, ratings) if movie_id in fresh_rank else []
        named = {r[0] for r in reasons}
        reasons += [r for r in _stored_because(stored_reasons.get(movie_id, [])) if r[0] not in named]
        item["because"] = _reasons(art, reasons)[:BECAUSE_N]
        out.append(item)
    return out


def _rated_because(similar: list[tuple[float, int]], recent: list[tuple[float, int]],
                   ratings: dict[int, float]) -> list[tuple[int, float, str]]:
    """(movie_id, stars, kind) of the largest positive recent contribution, then of the largest positive
    similarity contributions of other inputs, at most BECAUSE_N; ties by the lower id."""
    def top(parts: list[tuple[float, int]], k: int) -> list[int]:
        return [movie_id for _, movie_id in heapq.nsmallest(k, (p for p in parts if p[0] > 0),
                                                             key=lambda p: (-p[0], p[1]))]
    named = [(movie_id, ratings[movie_id], REASON_RECENT) for movie_id in top(recent, 1)]
    taken = {movie_id for movie_id, _, _ in named}
    others = [p for p in similar if p[1] not in taken]
    return named + [(movie_id, ratings[movie_id], REASON_SIMILAR) for movie_id in top(others, BECAUSE_N - len(named))]


def liked(art: Artifact, src: RowSource, movie_ids: list[int], n: int) -> list[dict]:
    """Movies like the given ones, excluding them: `rated` with every movie at 5 stars, so scores are the
    summed similarity over the liked movies' neighbour lists (a film close to several inputs ranks first)."""
    return rated(art, src, dict.fromkeys(movie_ids, 5.0), n)


def search(art: Artifact, tokens: list[str], phrase: str, stripped: str, limit: int) -> list[dict]:
    """Movies whose search_key contains every token, best title match first, then by popularity.

    `phrase` is the whole folded query, `stripped` the same without a leading article."""
    index = art.titles
    out = []
    found = index.search(tokens, phrase, stripped, limit)
    art.movies.want(index.movie_ids[row] for row in found)
    for row in found:
        m = art.movies[index.movie_ids[row]]
        out.append({"movie_id": m.movie_id, "title": m.title, "display_title": m.display_title, "year": m.year,
                    "genres": m.genres, "n_ratings": index.n_ratings[row]})
    return out
