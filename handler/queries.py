"""Read-only lookups: at most one small DuckDB query per request, every value a `?` parameter.

Ranked lists come from DuckDB without joins or ORDER BY (both cost more than the lookup itself);
titles come from the artifact's in-memory movie map and ordering is done here on ≤100 rows.
Functions know the schema through handler.schema and nothing about HTTP.
"""

from __future__ import annotations

import duckdb

from handler.artifact import Artifact
from handler.schema import MOVIES, SIMILAR_MOVIES, USER_RECOMMENDATIONS

Cursor = duckdb.DuckDBPyConnection

_USER = f"SELECT rank, movie_id, score FROM {USER_RECOMMENDATIONS} WHERE user_id = ?"
_SIMILAR = f"SELECT rank, similar_movie_id, score, source FROM {SIMILAR_MOVIES} WHERE movie_id = ?"
_MOVIE = (f"SELECT movie_id, title, display_title, year, genres, imdb_id, tmdb_id, n_ratings, mean_rating "
          f"FROM {MOVIES} WHERE movie_id = ?")
_MOVIE_KEYS = ("movie_id", "title", "display_title", "year", "genres", "imdb_id", "tmdb_id", "n_ratings", "mean_rating")

# Sum of similarity over the liked movies' neighbour lists: a film close to several inputs ranks first.
_LIKED = (f"SELECT similar_movie_id, sum(score) AS score, list(movie_id ORDER BY movie_id) AS because "
          f"FROM {SIMILAR_MOVIES} WHERE movie_id = ANY(?) AND NOT similar_movie_id = ANY(?) "
          "GROUP BY similar_movie_id ORDER BY score DESC, len(because) DESC, similar_movie_id LIMIT ?")

# Ranking: the build writes search_key as "<display title> | <title>", folded; an exact display title
# first, then titles starting with the query (with or without its leading article), then popularity.
_SEARCH = (f"SELECT movie_id, n_ratings FROM {MOVIES} WHERE {{conds}} ORDER BY starts_with(search_key, ?) DESC, "
           "(starts_with(search_key, ?) OR starts_with(search_key, ?)) DESC, n_ratings DESC, movie_id LIMIT ?")


def _item(art: Artifact, movie_id: int, score: float, rank: int) -> dict | None:
    m = art.movies.get(movie_id)
    if m is None:
        return None
    return {"rank": rank, "movie_id": movie_id, "title": m[1], "display_title": m[2], "year": m[3],
            "genres": m[4], "score": score}


def _ranked(art: Artifact, pairs, n: int, genre: str | None) -> list[dict]:
    """(movie_id, score) pairs in rank order -> up to n items, genre-filtered, ranked 1..n."""
    out: list[dict] = []
    for movie_id, score in pairs:
        m = art.movies.get(movie_id)
        if m is None or (genre is not None and genre not in m[4]):
            continue
        out.append({"rank": len(out) + 1, "movie_id": movie_id, "title": m[1], "display_title": m[2],
                    "year": m[3], "genres": m[4], "score": score})
        if len(out) == n:
            break
    return out


def user_recommendations(art: Artifact, cur: Cursor, user_id: int, n: int, genre: str | None) -> list[dict] | None:
    """The user's stored list (genre-filtered within it), or None when the user is not in the artifact."""
    rows = cur.execute(_USER, [user_id]).fetchall()
    if not rows:
        return None
    rows.sort()
    return _ranked(art, ((r[1], r[2]) for r in rows), n, genre)


def popular(art: Artifact, n: int, genre: str | None) -> list[dict]:
    """Overall or per-genre popular list, held in memory since the artifact was opened."""
    return _ranked(art, art.popular.get(genre, ()), n, None)


def movie(cur: Cursor, movie_id: int) -> dict | None:
    row = cur.execute(_MOVIE, [movie_id]).fetchone()
    return None if row is None else dict(zip(_MOVIE_KEYS, row))


def similar(art: Artifact, cur: Cursor, movie_id: int, n: int) -> list[dict] | None:
    """Neighbours of a movie, best first, or None when the movie is unknown."""
    if movie_id not in art.movies:
        return None
    rows = cur.execute(_SIMILAR, [movie_id]).fetchall()
    rows.sort()
    out: list[dict] = []
    for _, sid, score, source in rows:
        item = _item(art, sid, score, len(out) + 1)
        if item is not None:
            item["source"] = source
            out.append(item)
            if len(out) == n:
                break
    return out


def liked(art: Artifact, cur: Cursor, movie_ids: list[int], n: int) -> list[dict]:
    """Movies like the given ones, excluding them, best aggregated similarity first."""
    rows = cur.execute(_LIKED, [movie_ids, movie_ids, n]).fetchall()
    out: list[dict] = []
    for sid, score, because in rows:
        item = _item(art, sid, score, len(out) + 1)
        if item is not None:
            item["because"] = because
            out.append(item)
    return out


def search(art: Artifact, cur: Cursor, tokens: list[str], phrase: str, stripped: str, limit: int) -> list[dict]:
    """Movies whose search_key contains every token, best title match first, then by popularity.

    `phrase` is the whole folded query, `stripped` the same without a leading article."""
    sql = _SEARCH.format(conds=" AND ".join(["contains(search_key, ?)"] * len(tokens)))
    params = [*tokens, phrase + " |", phrase, stripped, limit]
    out = []
    for movie_id, n_ratings in cur.execute(sql, params).fetchall():
        m = art.movies[movie_id]
        out.append({"movie_id": movie_id, "title": m[1], "display_title": m[2], "year": m[3], "genres": m[4],
                    "n_ratings": n_ratings})
    return out
