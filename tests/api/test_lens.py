"""latentlens.open(...) answers exactly as the HTTP API, method by method, on the hand-made fixture artifact
(tests/handler/fixture_artifact.py), whose answers are known: 858's nearest neighbour is 1221, user 1's
first pick is 318 because of 858 and 1213, and movie 5 does not exist."""

from __future__ import annotations

import shutil
from fractions import Fraction
from pathlib import Path

import duckdb
import polars as pl
import pytest

import latentlens
from latentlens.handler import models, schema
from latentlens.handler.settings import Settings
from tests.api.same_answers import assert_same

ERRORS = (latentlens.InvalidParameter, latentlens.NotFound)


@pytest.mark.parametrize("url", [
    "/users/1/recommendations",
    "/users/1/recommendations?n=2",
    "/users/1/recommendations?n=100&genre=crime",
    "/users/1/recommendations?genre=SCI-FI",
    "/users/2/recommendations?genre=Romance",
    "/users/3/recommendations?n=4",  # not in the build: the popular list
    "/users/3/recommendations?genre=Drama",
    "/users/2147483647/recommendations",
])
def test_recommend(http, lens, url) -> None:
    assert assert_same(http, lens, url) == 200


def test_recommend_carries_the_stored_because_and_falls_back_to_popular(lens) -> None:
    picks = lens.recommend(1, n=3)
    assert isinstance(picks, models.UserRecommendations) and picks.source == "personal"
    assert [m.movie_id for m in picks.items] == [318, 2571, 1221]
    assert [b.movie_id for b in picks.items[0].because] == [858, 1213]
    stranger = lens.recommend(4, n=2)  # 3 is the learned session's user
    assert stranger.source == "popular" and all(m.because == [] for m in stranger.items)
    assert [m.movie_id for m in stranger.items] == [m.movie_id for m in lens.popular(n=2).items]


@pytest.mark.parametrize("url", ["/movies/858/similar", "/movies/858/similar?n=1", "/movies/1/similar?n=100",
                                 "/movies/4973/similar", "/movies/99999/similar", "/movies/5/similar"])
def test_similar(http, lens, url) -> None:
    assert_same(http, lens, url)


def test_similar_answers_the_fixture_s_neighbours(lens) -> None:
    assert [m.movie_id for m in lens.similar(858, n=2).items] == [1221, 2023]
    with pytest.raises(latentlens.NotFound, match="no movie 5"):
        lens.similar(5)


@pytest.mark.parametrize("url", [
    "/recommendations?ratings=858:5,1213:4.5",
    "/recommendations?ratings=858:5,1213:1",  # a low rating pushes its neighbours down
    "/recommendations?ratings=858:1",  # only a dislike: nothing scores above zero
    "/recommendations?ratings=858:3",  # neutral: no weight
    "/recommendations?ratings=858:4,5:2,7:5&n=2",  # unknown ids listed, not an error
    "/recommendations?ratings=5:4",  # none known: 404
    "/recommendations?ratings=858:0.5,1:5,2571:2.5&n=100",
    "/recommendations?liked=858,1213",
    "/recommendations?liked=1&n=1",
    "/recommendations?ratings=858:5,1221:5",  # 1221 the latest: what is rated next after it blends in
    "/recommendations?ratings=1221:5,858:5",  # the same movies in the other order
    "/recommendations?liked=1213,2023&n=3",
])
def test_for_ratings_and_liked(http, lens, url) -> None:
    assert_same(http, lens, url)


def test_for_ratings_takes_the_order_given_and_says_recent(lens) -> None:
    """The last given is the latest: 1221 last adds its followers (2023, 4973) with 1221 as a "recent" reason
    at full weight; one step back (858 given after it) at RECENT_DECAY (0.7) of it; four steps back, not at all
    (only the latest RECENT_N = 3 count)."""
    latest = lens.for_ratings({858: 5, 1221: 5})
    assert [m.movie_id for m in latest.items] == [2023, 1213, 318, 4973]
    assert [(b.movie_id, b.kind) for b in latest.items[0].because] == [(1221, "recent"), (858, "similar")]
    assert [(b.movie_id, b.kind) for b in latest.items[3].because] == [(1221, "recent")]
    assert latest.items[0].score == pytest.approx(0.7 + 0.8 + 0.5 * 0.9)  # half 1221's best similarity
    earlier = lens.for_ratings({1221: 5, 858: 5})
    assert earlier.items[0].movie_id == 2023 and earlier.items[0].score == pytest.approx(0.7 + 0.8 + 0.5 * 0.9 * 0.7)
    assert list(latest.ratings) == ["858", "1221"] and latest.liked == [858, 1221]  # the order is kept
    long_ago = lens.for_ratings({1221: 5, 858: 5, 1213: 4, 318: 4})
    assert 4973 not in [m.movie_id for m in long_ago.items]  # only a follower of 1221
    assert all(b.kind == "similar" for m in long_ago.items for b in m.because)


def test_recommend_carries_recent_reasons(lens) -> None:
    picks = lens.recommend(1)
    pick = next(m for m in picks.items if m.movie_id == 1221)
    assert [(b.movie_id, b.kind) for b in pick.because] == [(2023, "recent"), (858, "similar"), (1213, "similar")]


def test_for_ratings_low_stars_count_against_and_because_names_the_inputs(lens) -> None:
    both_liked = lens.for_ratings({858: 5, 1213: 4.5})
    assert [m.movie_id for m in both_liked.items][:2] == [1221, 318]
    assert [b.movie_id for b in both_liked.items[0].because] == [858, 1213]
    one_disliked = lens.for_ratings({858: 5, 1213: 1})
    scores = {m.movie_id: m.score for m in one_disliked.items}
    assert 318 not in scores  # 0.5 from 858, minus 0.55 from the disliked 1213
    assert scores[1221] == pytest.approx(0.9 - 0.5)
    assert all(b.movie_id == 858 for m in one_disliked.items for b in m.because)
    assert lens.for_ratings({858: 1}).items == []
    mixed = lens.for_ratings({858: 4, 5: 2})
    assert mixed.unknown == [5] and mixed.liked == [858]
    with pytest.raises(latentlens.NotFound, match="none of the given movies"):
        lens.for_ratings({5: 4})


@pytest.mark.parametrize("url", [
    "/movies?search=godfather", "/movies?search=the%20godfather&limit=1", "/movies?search=godfathr",
    "/movies?search=GODFAHTER%20part", "/movies?search=Am%C3%A9lie", "/movies?search=amelie",
    "/movies?search=zzzzzz", "/movies?search=%21%21%21", "/movies?search=matrix&limit=100",
])
def test_search(http, lens, url) -> None:
    assert_same(http, lens, url)


def test_search_forgives_typos_and_accents(lens) -> None:
    assert lens.search("godfathr").items[0].title == "Godfather, The (1972)"
    assert [m.movie_id for m in lens.search("amelie").items] == [4973]


@pytest.mark.parametrize("url", ["/popular", "/popular?n=1", "/popular?n=100", "/popular?genre=crime",
                                 "/popular?genre=Comedy&n=2", "/popular?genre=", "/popular?genre=Western",
                                 "/genres"])
def test_popular_and_genres(http, lens, url) -> None:
    assert_same(http, lens, url)


def test_popular_per_genre_keeps_to_the_genre(lens) -> None:
    crime = lens.popular("CRIME", n=100)
    assert crime.genre == "Crime" and crime.items
    assert all("Crime" in m.genres for m in crime.items)
    assert "Crime" in lens.genres()


@pytest.mark.parametrize("url", ["/movies/858", "/movies/99999", "/movies/5", "/health"])
def test_movie_and_info(http, lens, url) -> None:
    assert_same(http, lens, url)


def test_info_names_the_build(lens, fixture_db) -> None:
    info = lens.info()
    assert isinstance(info, models.Health)
    assert info.build.topn_champion == "itemknn" and info.counts.movies == 9
    assert info.artifact_sha256 == schema.sha256_file(fixture_db)


@pytest.mark.parametrize("url", [
    "/users/1/recommendations?n=0", "/users/1/recommendations?n=101", "/users/1/recommendations?genre=Nope",
    "/users/0/recommendations", "/users/2147483648/recommendations",
    "/movies/858/similar?n=0", "/movies/858/similar?n=101", "/movies/0/similar", "/movies/2147483648",
    "/movies?search=godfather&limit=0", "/movies?search=godfather&limit=101",
    "/popular?n=0", "/popular?n=101", "/popular?genre=Nope",
    "/recommendations?ratings=858:4&n=0", "/recommendations?ratings=858:5.5", "/recommendations?ratings=858:4.2",
    "/recommendations?ratings=0:4", "/recommendations?liked=858&n=101",
])
def test_bad_input_is_a_value_error_where_http_says_422(http, lens, url) -> None:
    assert assert_same(http, lens, url) == 422


def test_error_messages_match_http_where_both_say_it(http, lens) -> None:
    cases = [("/popular?genre=Nope", lambda: lens.popular("Nope")),
             ("/movies/5", lambda: lens.movie(5)),
             ("/recommendations?ratings=5:4", lambda: lens.for_ratings({5: 4})),
             ("/movies?search=%21%21", lambda: lens.search("!!"))]
    for url, call in cases:
        with pytest.raises(ERRORS) as raised:
            call()
        assert str(raised.value) == http.get(url).json()["error"]["message"], url


@pytest.mark.parametrize("call", [
    lambda lens: lens.recommend(1, n=True), lambda lens: lens.recommend(1, n=2.0), lambda lens: lens.similar("858"),
    lambda lens: lens.for_ratings([858]), lambda lens: lens.for_ratings({858: "5"}), lambda lens: lens.for_ratings({}),
    lambda lens: lens.for_ratings(dict.fromkeys(range(1, 52), 4.0)), lambda lens: lens.search(""),
    lambda lens: lens.search("x" * 201), lambda lens: lens.popular(genre=3), lambda lens: lens.liked(858),
    lambda lens: lens.liked([[858]]),
], ids=["bool-n", "float-n", "str-id", "list-ratings", "str-stars", "no-ratings", "51-ratings", "empty-search",
        "long-search", "int-genre", "int-liked", "unhashable-liked"])
def test_python_only_mistakes_are_value_errors(lens, call) -> None:
    with pytest.raises(latentlens.InvalidParameter):
        call(lens)


HUGE = [10**400, -(10**400), 10**5000, Fraction(10**400, 3)]  # 10**5000: past Python's 4,300-digit int-to-str limit


@pytest.mark.parametrize("call", [
    lambda lens, v: lens.recommend(v), lambda lens, v: lens.recommend(1, n=v), lambda lens, v: lens.similar(v),
    lambda lens, v: lens.similar(858, n=v), lambda lens, v: lens.movie(v), lambda lens, v: lens.popular(n=v),
    lambda lens, v: lens.search("godfather", limit=v), lambda lens, v: lens.liked([858, v]),
    lambda lens, v: lens.liked([858], n=v), lambda lens, v: lens.for_ratings({v: 4.0}),
    lambda lens, v: lens.for_ratings({858: v}), lambda lens, v: lens.for_ratings({858: 4.0}, n=v),
], ids=["user-id", "n", "similar-id", "similar-n", "movie-id", "popular-n", "search-limit", "liked-id", "liked-n",
        "rated-id", "stars", "rated-n"])
@pytest.mark.parametrize("huge", HUGE, ids=["1e400", "-1e400", "1e5000", "fraction-1e400"])
def test_numbers_however_large_are_invalid_parameter_with_a_short_message(lens, call, huge) -> None:
    with pytest.raises(latentlens.InvalidParameter) as raised:  # not OverflowError, nor int-to-str's ValueError
        call(lens, huge)
    assert len(str(raised.value)) < 200, str(raised.value)


def test_a_huge_rating_names_its_size_and_movie(lens) -> None:
    with pytest.raises(latentlens.InvalidParameter,
                       match=r"^ratings: about 10\^400 for movie 858 needs stars from 0.5 to 5 in half stars$"):
        lens.for_ratings({858: 10**400})
    with pytest.raises(latentlens.InvalidParameter,
                       match=r"^user_id: must be from 1 to 2147483647, not about -10\^5000$"):
        lens.recommend(-(10**5000))


def test_unknown_settings_are_a_type_error_naming_them_and_the_known_ones(fixture_db, tmp_path) -> None:
    with pytest.raises(TypeError) as raised:
        latentlens.open(fixture_db, tmp_dir=str(tmp_path), verify_checksums=False)
    message = str(raised.value)
    assert "'verify_checksums'" in message and "did you mean 'verify_checksum'?" in message
    known = message.split("the settings are: ")[1].split(", ")
    assert known == sorted(Settings.model_fields.keys() - {"db"}) and "verify_checksum" in known
    with pytest.raises(TypeError, match=r"unknown settings 'bogus', 'db'"):  # db is open's first argument
        latentlens.open(fixture_db, db="elsewhere.duckdb", bogus=1)
    copy = _copy(fixture_db, tmp_path / "copy")  # the module's Lens holds fixture_db with its own tmp_dir
    with latentlens.open(copy, tmp_dir=str(tmp_path / "lltmp"), verify_checksum=False) as opened:
        assert opened.info().artifact_sha256 is None  # the real setting still works: no checksum taken


def test_numpy_integers_are_ids(lens) -> None:
    np = pytest.importorskip("numpy")
    assert lens.movie(np.int64(858)).title == "Godfather, The (1972)"


def test_sql_returns_polars_read_only(lens, fixture_db) -> None:
    frame = lens.sql(f"SELECT movie_id, title FROM {schema.MOVIES} WHERE movie_id < ? ORDER BY movie_id", [900])
    assert isinstance(frame, pl.DataFrame)
    assert frame.to_dicts() == [{"movie_id": 1, "title": "Toy Story (1995)"},
                                {"movie_id": 318, "title": "Shawshank Redemption, The (1994)"},
                                {"movie_id": 858, "title": "Godfather, The (1972)"}]
    named = lens.sql(f"SELECT count(*) AS n FROM {schema.USER_RECOMMENDATIONS} WHERE user_id = $u", {"u": 1})
    assert named["n"].to_list() == [5]
    with pytest.raises(duckdb.Error, match="read-only"):
        lens.sql("CREATE TABLE scratch (a INTEGER)")
    with pytest.raises(duckdb.Error):
        lens.sql("SELECT * FROM read_csv('/etc/passwd')")  # external access is off


def _copy(fixture_db: Path, dest: Path) -> Path:
    dest.mkdir(parents=True)
    out = dest / "latentlens.duckdb"
    shutil.copyfile(fixture_db, out)
    shutil.copyfile(schema.manifest_path(str(fixture_db)), schema.manifest_path(str(out)))
    return out


def test_a_missing_or_broken_artifact_names_the_file_and_the_reason(fixture_db, tmp_path) -> None:
    missing = tmp_path / "nowhere" / "latentlens.duckdb"
    no_manifest = _copy(fixture_db, tmp_path / "no-manifest")
    Path(schema.manifest_path(str(no_manifest))).unlink()
    corrupt = _copy(fixture_db, tmp_path / "corrupt")
    with open(corrupt, "r+b") as fh:
        fh.seek(-100, 2)
        fh.write(b"\xff" * 10)
    not_duckdb = tmp_path / "readme.duckdb"
    not_duckdb.write_text("# not a database\n")
    Path(schema.manifest_path(str(not_duckdb))).write_text(schema.manifest_text(schema.sha256_file(not_duckdb),
                                                                                not_duckdb.name))
    for path, reason in [(missing, "artifact_missing"), (no_manifest, "manifest_missing"),
                         (corrupt, "checksum_mismatch"), (not_duckdb, "artifact_unreadable")]:
        with pytest.raises(latentlens.ArtifactUnavailable) as raised:
            latentlens.open(path, tmp_dir=str(tmp_path / "lltmp"))
        assert raised.value.reason == reason
        assert str(raised.value).startswith(f"cannot open {path} ({reason}): "), str(raised.value)


def test_settings_fields_are_checked(fixture_db, tmp_path) -> None:
    with pytest.raises(ValueError, match="retry_interval_s"):
        latentlens.open(fixture_db, tmp_dir=str(tmp_path), retry_interval_s=-1)
