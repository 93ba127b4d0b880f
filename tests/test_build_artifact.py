"""Acceptance of `latentlens build` on the embedded data: the artifact's public contract."""

from __future__ import annotations

import duckdb
import pytest

from latentlens.handler import schema


@pytest.fixture(scope="module")
def con(embedded_build):
    settings, _ = embedded_build
    connection = duckdb.connect(str(settings.out), read_only=True)
    yield connection
    connection.close()


def test_every_public_table_has_its_columns(con) -> None:
    for table, columns in schema.PUBLIC_COLUMNS.items():
        present = {r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()}
        assert set(columns) <= present, table


def test_every_user_who_rated_has_a_list_without_rated_movies(con, embedded_build) -> None:
    from latentlens.build.data.loader import load_movielens

    settings, _ = embedded_build
    ratings = load_movielens(settings.data_dir).ratings
    con.register("rated", ratings.select("user_id", "movie_id").to_arrow())
    users_with_list = con.execute("SELECT count(DISTINCT user_id) FROM user_recommendations").fetchone()[0]
    assert users_with_list == ratings["user_id"].n_unique()
    leaked = con.execute(
        "SELECT count(*) FROM user_recommendations r JOIN rated USING (user_id, movie_id)").fetchone()[0]
    assert leaked == 0
    per_user = con.execute("SELECT min(n), max(n) FROM "
                           "(SELECT count(*) n FROM user_recommendations GROUP BY user_id)").fetchone()
    assert per_user == (settings.top_n, settings.top_n)


def test_similar_movies_cover_every_rated_movie_and_never_self(con) -> None:
    uncovered = con.execute(
        "SELECT count(*) FROM movies m WHERE n_ratings > 0 AND NOT EXISTS "
        "(SELECT 1 FROM similar_movies s WHERE s.movie_id = m.movie_id)").fetchone()[0]
    assert uncovered == 0
    assert con.execute("SELECT count(*) FROM similar_movies WHERE movie_id = similar_movie_id").fetchone()[0] == 0


def test_godfather_part_ii_is_among_the_five_most_similar_to_the_godfather(con) -> None:
    top5 = [r[0] for r in con.execute(
        "SELECT similar_movie_id FROM similar_movies WHERE movie_id = 858 ORDER BY rank LIMIT 5").fetchall()]
    assert 1221 in top5


def test_popular_lists_overall_and_per_genre(con) -> None:
    genres = {r[0] for r in con.execute("SELECT DISTINCT genre FROM popular_movies").fetchall()}
    assert None in genres and "Comedy" in genres and "Drama" in genres
    wrong = con.execute(
        "SELECT count(*) FROM popular_movies p JOIN movies m USING (movie_id) "
        "WHERE p.genre IS NOT NULL AND NOT list_contains(m.genres, p.genre)").fetchone()[0]
    assert wrong == 0


def test_build_info_and_metrics_describe_the_build(con, embedded_build) -> None:
    _, result = embedded_build
    info = dict(con.execute("SELECT key, value FROM build_info").fetchall())
    assert set(schema.REQUIRED_BUILD_INFO) <= set(info)
    assert info["dataset_name"] == "ml-latest-small"
    assert info["n_ratings"] == "100836" and info["n_users"] == "610"
    assert info["topn_champion"] == result.topn_champion
    assert info["mlflow_run_id"] == result.run_id
    models = {r[0] for r in con.execute("SELECT DISTINCT model FROM model_metrics").fetchall()}
    assert result.topn_champion in models and result.rating_champion in models


def test_manifest_matches_artifact(embedded_build) -> None:
    import hashlib
    from pathlib import Path

    settings, result = embedded_build
    text = Path(schema.manifest_path(str(settings.out))).read_text()
    digest, name = text.splitlines()[0].split()  # `sha256sum -c` format
    assert digest == hashlib.sha256(settings.out.read_bytes()).hexdigest() == result.artifact.sha256
    assert name == settings.out.name
    assert schema.manifest_fingerprint(text) == schema.fingerprint_file(settings.out)  # what a quick open checks
