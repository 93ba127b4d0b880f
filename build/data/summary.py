"""`latentlens data info`: the first look at a release, as a JSON-ready dict and a readable table.

Everything is computed with polars expressions over the loaded tables, so the summary of
ML-25M costs a few group-bys, not a Python loop.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

import polars as pl

from latentlens.build.data.tables import MovieLensData

TOP_GENRES = 10
LONG_TAIL_SHARE = 0.01  # the top 1% of rated movies
SHARED_TITLES_LISTED = 10


def shared_titles_note(movies: pl.DataFrame, movie_counts: pl.DataFrame) -> str | None:
    """One note naming the titles (GroupLens' title, year included) that more than one movie carries,
    with each movie's id and rating count: what tells them apart in search and on the page."""
    shared = (
        movies.select("movie_id", "title")
        .join(movie_counts.rename({"len": "n"}), on="movie_id", how="left")
        .with_columns(pl.col("n").fill_null(0))
        .filter(pl.col("title").is_duplicated())
        .sort(["title", "n", "movie_id"], descending=[False, True, False])
        .group_by("title", maintain_order=True)
        .agg(pl.col("movie_id"), pl.col("n"))
    )
    if not shared.height:
        return None
    listed = [f"{title} ["
              + ", ".join(f"{m}: {n:,} rating{'s' if n != 1 else ''}" for m, n in zip(ids, ns, strict=True)) + "]"
              for title, ids, ns in shared.head(SHARED_TITLES_LISTED).iter_rows()]
    more = f"; and {shared.height - SHARED_TITLES_LISTED} more" if shared.height > SHARED_TITLES_LISTED else ""
    return (f"{shared.height} title{'s are' if shared.height != 1 else ' is'} shared by more than one movie "
            f"(told apart by id and rating count): " + "; ".join(listed) + more)


def ratings_per(ratings: pl.DataFrame, key: Literal["user_id", "movie_id"]) -> pl.Series:
    """Ratings per user (`key="user_id"`: their activity) or per rated movie (`"movie_id"`: the long tail), most
    first: the counts behind the summary's spreads and long tail, and behind the build's plots."""
    return ratings.group_by(key).len()["len"].sort(descending=True).alias("ratings")


def genre_counts(movies: pl.DataFrame, ratings: pl.DataFrame) -> pl.DataFrame:
    """Every genre with its movies and their ratings, most rated first (`data info` lists the first ten)."""
    return _genre_counts(movies, ratings.group_by("movie_id").len())


def _genre_counts(movies: pl.DataFrame, movie_counts: pl.DataFrame) -> pl.DataFrame:
    return (
        movies.select("movie_id", "genres").explode("genres").drop_nulls("genres")
        .join(movie_counts, on="movie_id", how="left")
        .group_by(pl.col("genres").alias("genre"))
        .agg(pl.len().alias("movies"), pl.col("len").sum().fill_null(0).alias("ratings"))
        .sort(["ratings", "movies", "genre"], descending=[True, True, False])
    )


def _spread(counts: pl.Series) -> dict:
    low, high = counts.min(), counts.max()
    median, p90 = counts.median(), counts.quantile(0.9, interpolation="linear")
    # rating counts, never empty: the loader rejects a release without ratings
    assert isinstance(low, int) and isinstance(high, int)
    assert isinstance(median, int | float) and p90 is not None
    return {
        "min": int(low),
        "median": float(median),
        "p90": float(p90),
        "max": int(high),
    }


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).date().isoformat()


def summarize(data: MovieLensData) -> dict:
    """Counts, sparsity, rating distribution, activity spreads, long tail, top genres, time span, notes."""
    ratings, movies = data.ratings, data.movies
    per_user = ratings_per(ratings, "user_id")
    movie_counts = ratings.group_by("movie_id").len()  # one pass over ratings; genres then work per movie
    per_movie = movie_counts["len"].sort(descending=True)
    n_users, n_movies, n_ratings = per_user.len(), movies.height, ratings.height
    top = max(1, round(per_movie.len() * LONG_TAIL_SHARE))
    distribution = ratings.group_by("rating").len().sort("rating")
    top_genres = _genre_counts(movies, movie_counts).head(TOP_GENRES)
    first, last = ratings.select(pl.col("timestamp").min().alias("first"),
                                 pl.col("timestamp").max().alias("last")).row(0)
    return {
        "name": data.name,
        "layout": data.layout,
        "sha256": data.sha256,
        "rating_scale": list(data.rating_scale),
        "counts": {
            "users": n_users,
            "movies": n_movies,
            "rated_movies": per_movie.len(),
            "ratings": n_ratings,
            "tags": data.tags.height,
        },
        "sparsity": 1.0 - n_ratings / (n_users * n_movies) if n_users and n_movies else 1.0,
        "rating_distribution": {f"{r:g}": int(n) for r, n in distribution.iter_rows()},
        "ratings_per_user": _spread(per_user),
        "ratings_per_movie": _spread(per_movie),
        "long_tail": {
            "top_movies": top,
            "share_of_ratings": float(per_movie.head(top).sum() / n_ratings),
        },
        "top_genres": [{"genre": g, "movies": int(m), "ratings": int(r)} for g, m, r in top_genres.iter_rows()],
        "time_span": {"first_rating": _iso(first), "last_rating": _iso(last)},
        "notes": list(data.notes) + [note for note in (shared_titles_note(movies, movie_counts),) if note],
    }


def format_summary(summary: dict) -> str:
    """The summary as aligned plain-text sections for a terminal."""
    c = summary["counts"]
    lines = [
        f"{summary['name']} ({summary['layout']} layout, rating scale "
        f"{summary['rating_scale'][0]:g}..{summary['rating_scale'][1]:g})",
        f"sha256 {summary['sha256']}",
        "",
        f"{'users':<14}{c['users']:>12,}",
        f"{'movies':<14}{c['movies']:>12,}",
        f"{'rated movies':<14}{c['rated_movies']:>12,}",
        f"{'ratings':<14}{c['ratings']:>12,}",
        f"{'tags':<14}{c['tags']:>12,}",
        f"{'sparsity':<14}{summary['sparsity']:>12.4%}",
        "",
        "ratings        count   share",
    ]
    total = c["ratings"]
    for value, n in summary["rating_distribution"].items():
        lines.append(f"{value:>7}{n:>12,}{n / total:>8.1%}")
    lines += ["", f"{'per':<8}{'min':>8}{'median':>10}{'p90':>10}{'max':>10}"]
    for label, key in (("user", "ratings_per_user"), ("movie", "ratings_per_movie")):
        s = summary[key]
        lines.append(f"{label:<8}{s['min']:>8,}{s['median']:>10,.1f}{s['p90']:>10,.1f}{s['max']:>10,}")
    tail = summary["long_tail"]
    lines += ["", f"long tail: the top {tail['top_movies']:,} movies (1%) hold "
                  f"{tail['share_of_ratings']:.1%} of ratings",
              "", f"{'genre':<20}{'movies':>10}{'ratings':>12}"]
    for g in summary["top_genres"]:
        lines.append(f"{g['genre']:<20}{g['movies']:>10,}{g['ratings']:>12,}")
    span = summary["time_span"]
    lines += ["", f"ratings from {span['first_rating']} to {span['last_rating']}"]
    if summary["notes"]:
        lines += ["", "notes:"] + [f"  - {note}" for note in summary["notes"]]
    return "\n".join(lines)
