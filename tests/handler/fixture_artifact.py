"""A small hand-made artifact in the real schema (latentlens.handler.schema.TABLE_DDL), with its sha256 manifest.

The rows are chosen so answers are known exactly: 858's nearest neighbour is 1221, liking
858 and 1213 ranks 1221 (0.9 + 0.5) above 318 (0.5 + 0.55) above 2023 (0.7). Only 1221 and 2023 have
movies rated next (NEXT), so the answers above are the similar lists' alone; rating 858 then 1221 (the
latest) adds 1221's followers at half its best similarity (0.9): 2023 (0.7 + 0.8 + 0.5 x 0.9) and 4973
(0.5 x 0.9 x 0.3 / 0.9), each "recent".
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import duckdb

from latentlens.handler import schema

# movie_id, title, display_title, year, genres, imdb_id, tmdb_id, n_ratings, mean_rating
MOVIES = [
    (1, "Toy Story (1995)", "Toy Story", 1995, ["Adventure", "Animation", "Children", "Comedy", "Fantasy"],
     "0114709", 862, 215, 3.92),
    (318, "Shawshank Redemption, The (1994)", "The Shawshank Redemption", 1994, ["Crime", "Drama"],
     "0111161", 278, 317, 4.43),
    (858, "Godfather, The (1972)", "The Godfather", 1972, ["Crime", "Drama"], "0068646", 238, 192, 4.29),
    (1213, "Goodfellas (1990)", "Goodfellas", 1990, ["Crime", "Drama"], "0099685", 769, 126, 4.25),
    (1221, "Godfather: Part II, The (1974)", "The Godfather: Part II", 1974, ["Crime", "Drama"],
     "0071562", 240, 129, 4.26),
    (2023, "Godfather: Part III, The (1990)", "The Godfather: Part III", 1990,
     ["Crime", "Drama", "Mystery", "Thriller"], "0099674", 242, 38, 3.33),
    (2571, "Matrix, The (1999)", "The Matrix", 1999, ["Action", "Sci-Fi", "Thriller"], "0133093", 603, 278, 4.19),
    (4973, "Amélie (Fabuleux destin d'Amélie Poulain, Le) (2001)", "Amélie", 2001, ["Comedy", "Romance"],
     "0211915", 194, 120, 4.18),
    (99999, "Obscure Short", "Obscure Short", None, ["(no genres listed)"], None, None, 0, None),
]

SIMILAR = {
    858: [(1221, 0.9), (2023, 0.7), (1213, 0.6), (318, 0.5)],
    1213: [(858, 0.6), (318, 0.55), (1221, 0.5)],
    1221: [(858, 0.9), (2023, 0.8), (1213, 0.5)],
    2023: [(1221, 0.8), (858, 0.7)],
    318: [(858, 0.5), (1213, 0.55)],
    1: [(2571, 0.4), (4973, 0.35)],
    2571: [(1, 0.4), (318, 0.3)],
    4973: [(1, 0.35)],
}

# movie -> the movies rated next after it (next_movies), best first
NEXT = {
    1221: [(2023, 0.9), (4973, 0.3)],
    2023: [(1221, 0.6)],
}

USER_RECS = {
    1: [(318, 4.9), (2571, 4.7), (1221, 4.5), (4973, 4.2), (1, 4.0)],
    2: [(1, 4.6), (4973, 4.4), (2571, 4.1)],
    3: [(1213, 4.4), (2023, 4.0), (318, 3.8)],  # the learned session's (SESSION_USERS)
}

# user -> recommended movie -> the stored `because`: (rated movie, the user's stars, kind), a "recent" one first,
# then the largest contribution first (user 1 rated 2023 lately, and 1221 is often rated next after it)
BECAUSE = {
    1: {318: [(858, 5.0, "similar"), (1213, 4.5, "similar")],
        1221: [(2023, 4.0, "recent"), (858, 5.0, "similar"), (1213, 4.5, "similar")],
        2571: [(99999, 4.0, "similar")]},
    2: {1: [(4973, 4.5, "similar")]},
    3: {1213: [(858, 5.0, "similar")]},
}

# An A/B experiment's other arm (challenger_recommendations): its own lists for users 1 to 3
CHALLENGER_RECS = {
    1: [(2571, 3.9), (4973, 3.6), (1213, 3.2), (318, 3.0)],
    2: [(858, 4.1), (318, 3.7)],
    3: [(2571, 4.2), (1, 3.9)],
}
CHALLENGER_BECAUSE = {1: {2571: [(858, 5.0, "similar")]}}

# session_users: a session a build trained as a user of its own (user 3, above the dataset's users 1 and 2),
# found by the sha256 of its id
SESSION_USERS = {"learned-session": 3}

# Settings of an experiment that splits the fixture's people (tests/handler/test_lists_react.py checks the arms):
# users 1 and 424242 and session learned-session challenger; users 2 and 3 and session new-session champion
EXPERIMENT = {"experiment": "fixture-ab", "experiment_share": 0.5, "experiment_salt": "g"}

BUILD_INFO = {
    "schema_version": str(schema.SCHEMA_VERSION),
    "dataset_name": "fixture",
    "dataset_sha256": "0" * 64,
    "n_users": "2",
    "n_movies": str(len(MOVIES)),
    "n_ratings": "1415",
    "topn_champion": "itemknn",
    "rating_champion": "svd",
    "mlflow_run_id": "fixture-run",
    "created_at": "2026-11-22T00:00:00Z",
    "package_version": "0.1.0",
}


def search_key_of(movie: tuple) -> str:
    """As the build writes it (build/export/tables.py): display title and title, folded."""
    return schema.search_key(f"{movie[2]} | {movie[1]}")


def write_manifest(path: Path) -> str:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    Path(schema.manifest_path(str(path))).write_text(f"{digest}  {path.name}\n")
    return digest


def _popular(genre: str | None) -> list[tuple]:
    chosen = [m for m in MOVIES if m[7] > 0 and (genre is None or genre in m[4])]
    chosen.sort(key=lambda m: (-m[7], m[0]))
    return [(genre, rank, m[0], float(m[7])) for rank, m in enumerate(chosen, 1)]


def _list_rows(lists: dict[int, list[tuple[int, float]]], because: dict[int, dict]) -> list[tuple]:
    """Rows of user_recommendations (or challenger_recommendations)."""
    return [(uid, r, mid, s, [{"movie_id": b, "rating": stars, "kind": kind}
                              for b, stars, kind in because.get(uid, {}).get(mid, [])])
            for uid, lst in sorted(lists.items()) for r, (mid, s) in enumerate(lst, 1)]


def build_fixture_artifact(path: Path, *, build_info: dict[str, str] | None = None,
                           movies: list[tuple] | None = None, manifest: bool = True, challenger: bool = True) -> Path:
    """Write the fixture artifact at `path` (and its manifest unless told not to); `challenger=False` leaves
    challenger_recommendations empty, as a build without `--challenger` does."""
    if path.exists():
        path.unlink()
    info = BUILD_INFO if build_info is None else build_info
    movies = MOVIES if movies is None else movies
    tmp = path.with_name(path.name + ".tmp")
    con = duckdb.connect(str(tmp))
    try:
        for ddl in schema.TABLE_DDL.values():
            con.execute(ddl)
        con.executemany("INSERT INTO movies VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [(*m, search_key_of(m)) for m in movies])
        con.executemany("INSERT INTO similar_movies VALUES (?, ?, ?, ?, ?)",
                        [(mid, r, sid, s, "itemknn") for mid, lst in sorted(SIMILAR.items())
                         for r, (sid, s) in enumerate(lst, 1)])
        con.executemany("INSERT INTO next_movies VALUES (?, ?, ?, ?)",
                        [(mid, r, nid, s) for mid, lst in sorted(NEXT.items()) for r, (nid, s) in enumerate(lst, 1)])
        con.executemany("INSERT INTO user_recommendations VALUES (?, ?, ?, ?, ?)", _list_rows(USER_RECS, BECAUSE))
        if challenger:
            con.executemany("INSERT INTO challenger_recommendations VALUES (?, ?, ?, ?, ?)",
                            _list_rows(CHALLENGER_RECS, CHALLENGER_BECAUSE))
        con.executemany("INSERT INTO session_users VALUES (?, ?)",
                        [(schema.session_sha256(sid), uid) for sid, uid in sorted(SESSION_USERS.items())])
        genres = sorted({g for m in MOVIES for g in m[4] if m[7] > 0})
        con.executemany("INSERT INTO popular_movies VALUES (?, ?, ?, ?)",
                        [row for g in [None, *genres] for row in _popular(g)])
        con.executemany("INSERT INTO model_metrics VALUES (?, ?, ?, ?)",
                        [("itemknn", "topn", "ndcg@10", 0.31), ("svd", "rating", "rmse", 0.87)])
        con.executemany("INSERT INTO build_info VALUES (?, ?)", sorted(info.items()))
    finally:
        con.close()
    os.replace(tmp, path)
    if manifest:
        write_manifest(path)
    return path
