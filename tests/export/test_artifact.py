"""The artifact writer: atomic install, verification that can fail, and the previous file kept."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import duckdb
import polars as pl
import pytest

from latentlens.build.data.errors import DataError
from latentlens.build.export import artifact as artifact_mod
from latentlens.build.export.artifact import ArtifactError, ArtifactTables, verify_artifact, write_artifact
from latentlens.build.export.query import run_query
from latentlens.handler import schema


def small_tables(n_users: int = 3, tag: str = "first") -> ArtifactTables:
    movies = pl.DataFrame({
        "movie_id": [1, 2, 3, 4],
        "title": ["Toy Story (1995)", "Godfather, The (1972)", "Heat (1995)", "Amélie (2001)"],
        "display_title": ["Toy Story", "The Godfather", "Heat", "Amélie"],
        "year": [1995, 1972, 1995, 2001],
        "genres": [["Animation"], ["Crime", "Drama"], ["Action"], ["Comedy"]],
        "imdb_id": ["0114709", "0068646", "0113277", "0211915"],
        "tmdb_id": [862, 238, None, 194],
        "n_ratings": [10, 8, 3, 0],
        "mean_rating": [4.0, 4.5, 3.5, None],
        "search_key": ["toy story", "the godfather | godfather, the (1972)", "heat", "amelie"],
    }, schema_overrides={"movie_id": pl.Int32, "year": pl.Int32, "tmdb_id": pl.Int32, "n_ratings": pl.Int32})
    recs = pl.DataFrame({
        "user_id": [u for u in range(1, n_users + 1) for _ in range(2)],
        "rank": [1, 2] * n_users,
        "movie_id": [3, 4] * n_users,
        "score": [0.9, 0.5] * n_users,
        "because": [[{"movie_id": 1, "rating": 4.0, "kind": "recent"},
                     {"movie_id": 2, "rating": 5.0, "kind": "similar"}], []] * n_users,
    }, schema_overrides={"user_id": pl.Int32, "rank": pl.Int32, "movie_id": pl.Int32,
                         "because": pl.List(pl.Struct({"movie_id": pl.Int32, "rating": pl.Float32,
                                                       "kind": pl.Utf8}))})
    similar = pl.DataFrame({"movie_id": [1, 1, 2], "rank": [1, 2, 1], "similar_movie_id": [2, 3, 3],
                            "score": [0.8, 0.2, 0.4], "source": ["cf", "cf", "content"]},
                           schema_overrides={"movie_id": pl.Int32, "rank": pl.Int32, "similar_movie_id": pl.Int32})
    popular = pl.DataFrame({"genre": [None, None, "Crime"], "rank": [1, 2, 1], "movie_id": [2, 1, 2],
                            "score": [4.4, 4.0, 4.4]},
                           schema_overrides={"genre": pl.Utf8, "rank": pl.Int32, "movie_id": pl.Int32})
    metrics = pl.DataFrame({"model": ["popularity"], "protocol": ["topn"], "metric": ["ndcg@10"], "value": [0.1]})
    info = {k: tag for k in schema.REQUIRED_BUILD_INFO} | {"schema_version": str(schema.SCHEMA_VERSION)}
    following = pl.DataFrame({"movie_id": [1, 1, 3], "rank": [1, 2, 1], "next_movie_id": [3, 2, 4],
                              "score": [0.7, 0.3, 0.5]},
                             schema_overrides={"movie_id": pl.Int32, "rank": pl.Int32, "next_movie_id": pl.Int32})
    challenger = recs.with_columns(pl.col("score") / 2)
    return ArtifactTables(movies, recs, similar, popular, metrics, info, next_movies=following,
                          challenger_recommendations=challenger)


def test_written_artifact_has_public_schema_and_manifest(tmp_path: Path) -> None:
    out = tmp_path / "a.duckdb"
    report = write_artifact(out, small_tables())
    assert report.row_counts[schema.USER_RECOMMENDATIONS] == 6
    manifest = Path(schema.manifest_path(str(out))).read_text()
    assert manifest.splitlines()[0].split() == [hashlib.sha256(out.read_bytes()).hexdigest(), "a.duckdb"]
    assert schema.manifest_fingerprint(manifest) == schema.fingerprint_file(out)  # for a quick open
    con = duckdb.connect(str(out), read_only=True)
    for table, columns in schema.PUBLIC_COLUMNS.items():
        got = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
        assert set(columns) <= set(got), table
    # rows are stored in key order, so one user's list is one contiguous run
    assert con.execute("SELECT user_id, rank FROM user_recommendations").fetchall() == sorted(
        con.execute("SELECT user_id, rank FROM user_recommendations").fetchall())
    con.close()
    assert not list(tmp_path.glob(".a.duckdb.tmp*")), "temporary files left behind"


def test_failed_verification_keeps_previous_artifact(tmp_path: Path) -> None:
    out = tmp_path / "a.duckdb"
    write_artifact(out, small_tables(tag="good"))
    before = out.read_bytes()
    good = small_tables()
    broken_recs = good.user_recommendations.with_columns(
        pl.when(pl.col("rank") == 2).then(5).otherwise(pl.col("rank")).alias("rank"))  # ranks 1,5: a gap
    broken = ArtifactTables(good.movies, broken_recs, good.similar_movies, good.popular_movies,
                            good.model_metrics, good.build_info)
    with pytest.raises(ArtifactError, match="ranks are not 1..n"):
        write_artifact(out, broken)
    assert out.read_bytes() == before
    assert run_query(out, "SELECT value FROM build_info WHERE key = 'dataset_name'", fmt="csv") == "value\ngood"
    assert not list(tmp_path.glob(".a.duckdb.tmp*"))


def test_export_killed_midway_keeps_previous_artifact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "a.duckdb"
    write_artifact(out, small_tables(tag="good"))
    before = out.read_bytes()

    def die(*_args, **_kwargs):
        raise KeyboardInterrupt  # what SIGINT does in the middle of the write

    monkeypatch.setattr(artifact_mod, "verify_artifact", die)
    with pytest.raises(KeyboardInterrupt):
        write_artifact(out, small_tables(tag="new"))
    assert out.read_bytes() == before
    assert Path(schema.manifest_path(str(out))).read_text().split()[0] == hashlib.sha256(before).hexdigest()


def test_verify_rejects_self_similarity_and_null_keys(tmp_path: Path) -> None:
    good = small_tables()
    selfish = good.similar_movies.with_columns(
        pl.when(pl.col("rank") == 1).then(pl.col("movie_id")).otherwise(pl.col("similar_movie_id"))
        .alias("similar_movie_id"))
    bad = ArtifactTables(good.movies, good.user_recommendations, selfish,
                         good.popular_movies, good.model_metrics, good.build_info)
    with pytest.raises(ArtifactError, match="themselves"):
        write_artifact(tmp_path / "b.duckdb", bad)
    nulls = good.popular_movies.with_columns(pl.lit(None, pl.Int32).alias("movie_id"))
    with pytest.raises((ArtifactError, duckdb.Error)):
        write_artifact(tmp_path / "c.duckdb", ArtifactTables(good.movies, good.user_recommendations,
                       good.similar_movies, nulls, good.model_metrics, good.build_info))
    assert not (tmp_path / "b.duckdb").exists() and not (tmp_path / "c.duckdb").exists()


@pytest.mark.parametrize(("change", "message"), [
    (pl.when(pl.col("rank") == 1).then(pl.col("movie_id")).otherwise(pl.col("next_movie_id"))
     .alias("next_movie_id"), "themselves as rated next"),
    (pl.when(pl.col("rank") == 2).then(float("nan")).otherwise(pl.col("score")).alias("score"), "not finite"),
    (pl.when(pl.col("rank") == 2).then(3).otherwise(pl.col("rank")).alias("rank"), "ranks are not 1..n"),
])
def test_verify_checks_next_movies(tmp_path: Path, change: pl.Expr, message: str) -> None:
    good = small_tables()
    bad = ArtifactTables(good.movies, good.user_recommendations, good.similar_movies, good.popular_movies,
                         good.model_metrics, good.build_info, next_movies=good.next_movies.with_columns(change))
    with pytest.raises(ArtifactError, match=message):
        write_artifact(tmp_path / "n.duckdb", bad)
    assert not (tmp_path / "n.duckdb").exists()


NOT_FINITE = pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")], ids=["nan", "inf", "-inf"])
FINITE_COLUMNS = pytest.mark.parametrize(("table", "column"), [
    (table, column) for table, columns in schema.FINITE_COLUMNS.items() for column in columns], ids=lambda v: v)


def with_first(frame: pl.DataFrame, column: str, value: object) -> pl.DataFrame:
    values = frame[column].to_list()
    values[0] = value
    return frame.with_columns(pl.Series(column, values, dtype=frame.schema[column]))


@NOT_FINITE
@FINITE_COLUMNS
def test_a_non_finite_number_is_never_published(tmp_path: Path, table: str, column: str, value: float) -> None:
    """Every number the API serves (schema.FINITE_COLUMNS): JSON has no NaN or infinity, so the build's verification
    refuses the artifact and the previous one stays published, byte for byte."""
    out = tmp_path / "a.duckdb"
    write_artifact(out, small_tables(tag="good"))
    before, manifest = out.read_bytes(), Path(schema.manifest_path(str(out))).read_text()
    good = small_tables(tag="bad")
    bad = replace(good, **{table: with_first(getattr(good, table), column, value)})
    with pytest.raises(ArtifactError, match=rf"{table}\.{column} has 1 values that are not finite"):
        write_artifact(out, bad)
    assert out.read_bytes() == before and Path(schema.manifest_path(str(out))).read_text() == manifest
    assert len(list((tmp_path / "a.duckdb.builds").glob("*.duckdb"))) == 1
    assert not list(tmp_path.glob(".a.duckdb.tmp*"))


@NOT_FINITE
def test_a_non_finite_because_rating_is_never_published(tmp_path: Path, value: float) -> None:
    good = small_tables()
    because = [{"movie_id": 1, "rating": value, "kind": "recent"}]
    bad = replace(good, user_recommendations=with_first(good.user_recommendations, "because", because))
    with pytest.raises(ArtifactError, match="because ratings are not finite"):
        write_artifact(tmp_path / "a.duckdb", bad)
    assert not (tmp_path / "a.duckdb").exists()


@NOT_FINITE
@FINITE_COLUMNS
def test_verify_rejects_a_file_doctored_with_a_non_finite_number(tmp_path: Path, table: str, column: str,
                                                                 value: float) -> None:
    """The same check on a written file changed afterwards (what `verify_artifact` is handed, not the frames)."""
    out = tmp_path / "a.duckdb"
    write_artifact(out, small_tables())
    doctored = tmp_path / "doctored.duckdb"
    doctored.write_bytes(out.read_bytes())
    con = duckdb.connect(str(doctored))
    con.execute(f"UPDATE {table} SET {column} = ? WHERE rowid = (SELECT min(rowid) FROM {table})", [value])
    con.close()
    verify_artifact(out)  # the original passes
    with pytest.raises(ArtifactError, match=rf"{table}\.{column} has 1 values that are not finite"):
        verify_artifact(doctored)


def test_a_title_that_is_only_a_year_is_untitled_in_the_artifact_and_the_api(tmp_path: Path) -> None:
    """GroupLens files a few movies with no title but the year: the loader, the export's movies table, the
    artifact and the API all give "Untitled" (year 1995 beside it), where the page showed an empty link."""
    from fastapi.testclient import TestClient

    from latentlens.build.data.loader import load_movielens
    from latentlens.build.export.tables import movies_with_stats
    from latentlens.handler.app import create_app
    from latentlens.handler.settings import Settings

    release = tmp_path / "ml"
    release.mkdir()
    (release / "movies.csv").write_text("movieId,title,genres\n1,Toy Story (1995),Animation\n"
                                        "2,Heat (1995),Crime\n3,(1995),Drama\n4,Amélie (2001),Comedy\n")
    (release / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,3,4.0,1\n2,1,3.0,2\n")
    data = load_movielens(release)
    stats = pl.DataFrame({"movie_id": [1, 3], "n_ratings": [1, 1], "mean_rating": [3.0, 4.0]})
    movies = movies_with_stats(data.movies, data.links, stats)
    out = tmp_path / "a.duckdb"
    write_artifact(out, replace(small_tables(), movies=movies))
    con = duckdb.connect(str(out), read_only=True)
    assert con.execute("SELECT title, display_title, year FROM movies WHERE movie_id = 3").fetchone() == (
        "(1995)", "Untitled", 1995)
    con.close()
    app = create_app(Settings(db=str(out), tmp_dir=str(tmp_path / "lltmp")))
    try:
        with TestClient(app) as client:
            movie = client.get("/movies/3").json()
            assert (movie["title"], movie["display_title"], movie["year"]) == ("(1995)", "Untitled", 1995)
            similar = client.get("/movies/1/similar").json()["items"]
            assert [(m["movie_id"], m["display_title"]) for m in similar] == [(2, "Heat"), (3, "Untitled")]
    finally:
        app.state.store.close()


def test_verify_rejects_an_empty_display_title(tmp_path: Path) -> None:
    good = small_tables()
    with pytest.raises(ArtifactError, match="1 empty display titles"):
        write_artifact(tmp_path / "a.duckdb", replace(good, movies=with_first(good.movies, "display_title", " ")))
    assert not (tmp_path / "a.duckdb").exists()


def test_next_movies_and_recent_reasons_read_back(tmp_path: Path) -> None:
    out = tmp_path / "a.duckdb"
    write_artifact(out, small_tables())
    con = duckdb.connect(str(out), read_only=True)
    assert con.execute("SELECT movie_id, rank, next_movie_id, score FROM next_movies").fetchall() == [
        (1, 1, 3, 0.7), (1, 2, 2, 0.3), (3, 1, 4, 0.5)]
    reasons = con.execute("SELECT because FROM user_recommendations WHERE user_id = 1 AND rank = 1").fetchone()[0]
    assert reasons == [{"movie_id": 1, "rating": 4.0, "kind": "recent"},
                       {"movie_id": 2, "rating": 5.0, "kind": "similar"}]
    con.close()
    no_next = small_tables()
    empty = ArtifactTables(no_next.movies, no_next.user_recommendations, no_next.similar_movies, no_next.popular_movies,
                           no_next.model_metrics, no_next.build_info)  # an engine without a next-movies model
    assert write_artifact(tmp_path / "e.duckdb", empty).row_counts[schema.NEXT_MOVIES] == 0


def test_verify_rejects_other_schema_version(tmp_path: Path) -> None:
    good = small_tables()
    info = dict(good.build_info, schema_version=str(schema.SCHEMA_VERSION + 1))
    with pytest.raises(ArtifactError, match="schema_version"):
        write_artifact(tmp_path / "d.duckdb", ArtifactTables(good.movies, good.user_recommendations,
                       good.similar_movies, good.popular_movies, good.model_metrics, info))


def test_query_formats_and_is_read_only(tmp_path: Path) -> None:
    out = tmp_path / "a.duckdb"
    write_artifact(out, small_tables())
    text = run_query(out, "SELECT movie_id, display_title FROM movies ORDER BY movie_id LIMIT 2")
    lines = text.splitlines()
    assert lines[0].split() == ["movie_id", "display_title"]
    assert "Toy Story" in lines[2] and lines[-1] == "(2 rows)"
    with pytest.raises(DataError, match="query failed"):
        run_query(out, "DELETE FROM movies")
    assert run_query(out, "SELECT count(*) AS n FROM movies", fmt="json").replace(" ", "").count('"n":4') == 1
    with pytest.raises(DataError, match="not found"):
        run_query(tmp_path / "missing.duckdb", "SELECT 1")


def test_temp_files_of_killed_builds_are_removed_but_live_ones_kept(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".a.duckdb.tmp-{dead.pid}"
    stale.write_bytes(b"half a database")
    live = tmp_path / f".a.duckdb.tmp-{os.getppid()}"  # a running process: maybe a concurrent build
    live.write_bytes(b"in progress")
    write_artifact(tmp_path / "a.duckdb", small_tables())
    assert not stale.exists()
    assert live.exists()
