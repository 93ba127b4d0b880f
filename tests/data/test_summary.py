"""`summarize` on a fixture small enough to count by hand."""

from __future__ import annotations

import json
from pathlib import Path

from latentlens.build.data.loader import load_movielens
from latentlens.build.data.summary import TOP_GENRES, format_summary, genre_counts, ratings_per, summarize


def test_summary_matches_hand_counts(csv_release: Path) -> None:
    # ratings: u1 m1 4.0, u1 m2 3.5, u2 m1 5.0, u2 m3 0.5, u3 m2 2.0; movie 4 is never rated
    s = summarize(load_movielens(csv_release))
    assert s["counts"] == {"users": 3, "movies": 4, "rated_movies": 3, "ratings": 5, "tags": 2}
    assert s["sparsity"] == 1 - 5 / 12
    assert s["rating_distribution"] == {"0.5": 1, "2": 1, "3.5": 1, "4": 1, "5": 1}
    assert s["ratings_per_user"] == {"min": 1, "median": 2.0, "p90": 2.0, "max": 2}
    assert s["ratings_per_movie"] == {"min": 1, "median": 2.0, "p90": 2.0, "max": 2}
    assert s["long_tail"] == {"top_movies": 1, "share_of_ratings": 0.4}
    assert s["top_genres"][0] == {"genre": "Drama", "movies": 2, "ratings": 2}
    assert [g["genre"] for g in s["top_genres"][1:]] == ["Action", "Adventure", "Comedy", "Fantasy"]
    assert s["time_span"] == {"first_rating": "2000-07-30", "last_rating": "2015-10-24"}
    json.dumps(s)  # JSON-serialisable as is


def test_format_summary_shows_counts_and_notes(csv_release: Path) -> None:
    (csv_release / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,4.0,1\n1,50,3.0,2\n")
    text = format_summary(summarize(load_movielens(csv_release)))
    assert "ratings                  2" in text
    assert "notes:" in text and "Unknown movie" in text


def test_ratings_per_user_and_movie_most_first(csv_release: Path) -> None:
    (csv_release / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,4.0,1\n1,2,3.0,2\n1,3,3.0,3\n"
                                             "2,1,5.0,4\n")
    ratings = load_movielens(csv_release).ratings
    assert ratings_per(ratings, "user_id").to_list() == [3, 1]
    assert ratings_per(ratings, "movie_id").to_list() == [2, 1, 1]


def test_genre_counts_lists_every_genre_and_its_head_is_the_summarys(csv_release: Path) -> None:
    data = load_movielens(csv_release)
    genres = genre_counts(data.movies, data.ratings)
    # movie 4 (Drama) is never rated; movie 3 has no genre
    assert genres.rows() == [("Drama", 2, 2), ("Action", 1, 2), ("Adventure", 1, 2), ("Comedy", 1, 2),
                             ("Fantasy", 1, 2)]
    assert genres.head(TOP_GENRES).to_dicts() == summarize(data)["top_genres"]
