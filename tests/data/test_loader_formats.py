"""Every layout loads into the typed tables, with GroupLens's awkward text handled."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from latentlens.build.data.loader import LoadOptions, load_movielens
from latentlens.build.data.tables import LINKS_SCHEMA, MOVIES_SCHEMA, RATINGS_SCHEMA, TAGS_SCHEMA
from tests.data.conftest import write


def movie(data, movie_id: int) -> dict:
    return data.movies.filter(pl.col("movie_id") == movie_id).to_dicts()[0]


def test_csv_layout_types_and_values(csv_release: Path) -> None:
    data = load_movielens(csv_release)
    assert (data.layout, data.name, data.rating_scale) == ("csv", "ml-tiny", (0.5, 5.0))
    assert dict(data.ratings.schema) == RATINGS_SCHEMA
    assert dict(data.movies.schema) == MOVIES_SCHEMA
    assert dict(data.tags.schema) == TAGS_SCHEMA
    assert dict(data.links.schema) == LINKS_SCHEMA
    assert data.ratings.rows()[:2] == [(1, 1, 4.0, 964982703), (1, 2, 3.5, 964981247)]
    assert data.genome_scores is None and data.notes == ()


def test_csv_titles_with_commas_quotes_and_alternates(csv_release: Path) -> None:
    data = load_movielens(csv_release)
    hit = movie(data, 1)
    assert hit["title"] == 'Big "Hit", A (2000)'
    assert (hit["display_title"], hit["year"], hit["genres"]) == ('A Big "Hit"', 2000, ["Action", "Comedy"])
    lost = movie(data, 2)
    assert lost["title"] == "City of Lost Children, The (Cité des enfants perdus, La) (1995)"
    assert (lost["display_title"], lost["year"]) == ("The City of Lost Children", 1995)
    untitled = movie(data, 3)
    assert (untitled["display_title"], untitled["year"], untitled["genres"]) == (
        "Untitled Documentary Project", None, [])
    assert movie(data, 4)["display_title"] == "L'Homme"


def test_csv_tags_and_links(csv_release: Path) -> None:
    data = load_movielens(csv_release)
    assert data.tags["tag"].to_list() == ["funny, loud", '"so bad it\'s good"']
    assert data.links.rows() == [(1, "0114709", 862), (2, "0112682", None), (3, "12345678", 99), (4, "0000001", 5)]


def test_csv_genome_files_are_loaded(csv_release: Path) -> None:
    write(csv_release, "genome-scores.csv", "movieId,tagId,relevance\n1,1,0.025\n1,2,0.9\n")
    write(csv_release, "genome-tags.csv", "tagId,tag\n1,007\n2,\"dark, gritty\"\n")
    data = load_movielens(csv_release)
    assert data.genome_scores.rows() == [(1, 1, pytest.approx(0.025)), (1, 2, pytest.approx(0.9))]
    assert data.genome_scores.schema["relevance"] == pl.Float32
    assert data.genome_tags["tag"].to_list() == ["007", "dark, gritty"]


def test_sha256_is_stable_and_follows_the_content(csv_release: Path) -> None:
    first = load_movielens(csv_release).sha256
    assert load_movielens(csv_release).sha256 == first
    write(csv_release, "tags.csv", "userId,movieId,tag,timestamp\n1,1,other,964982800\n")
    assert load_movielens(csv_release).sha256 != first


def test_one_m_layout_reads_latin1_and_whole_stars(one_m_release: Path) -> None:
    data = load_movielens(one_m_release)
    assert (data.layout, data.rating_scale) == ("dat", (1.0, 5.0))
    assert dict(data.ratings.schema) == RATINGS_SCHEMA
    assert data.ratings.rows() == [(1, 1, 5.0, 978300760), (1, 2, 3.0, 978302109), (2, 2, 4.0, 978301968)]
    lost = movie(data, 2)
    assert lost["title"] == "City of Lost Children, The (Cité des enfants perdus, La) (1995)"
    assert lost["display_title"] == "The City of Lost Children"
    assert movie(data, 1)["genres"] == ["Animation", "Children's", "Comedy"]
    assert data.tags.height == 0 and data.links.height == 0
    assert data.users.rows() == [(1, "F", 1, "10", "48067"), (2, "M", 56, "16", "70072")]


def test_one_m_rejects_half_stars(one_m_release: Path) -> None:
    write(one_m_release, "ratings.dat", "1::1::5::978300760\n1::2::3.5::978302109\n")
    with pytest.raises(Exception, match=r"ratings.dat:2: rating 3.5 is not on the scale 1..5 in steps of 1"):
        load_movielens(one_m_release)


def test_ten_m_layout_utf8_half_stars_and_tags(ten_m_release: Path) -> None:
    data = load_movielens(ten_m_release)
    assert (data.layout, data.rating_scale) == ("dat", (0.5, 5.0))
    assert data.ratings["rating"].to_list() == [5.0, 4.5, 0.5]
    assert movie(data, 185)["display_title"] == "The Net"
    assert movie(data, 186)["display_title"] == "Amélie"
    assert data.tags.rows() == [(15, 185, 'dark, but "fun"', 1138537770)]
    assert data.users is None


def test_hundred_k_layout_flags_become_genres(hundred_k_release: Path) -> None:
    data = load_movielens(hundred_k_release)
    assert (data.layout, data.rating_scale) == ("100k", (1.0, 5.0))
    assert data.ratings.rows()[0] == (196, 1, 3.0, 881250949)
    assert movie(data, 1)["genres"] == ["Animation", "Children's", "Comedy"]
    assert movie(data, 2)["display_title"] == "The City of Lost Children"
    untitled = movie(data, 3)  # Latin-1 title, no year in it: the release date gives the year
    assert (untitled["title"], untitled["year"], untitled["genres"]) == ("Cité des enfants perdus", 1995, [])
    assert data.users.rows() == [(1, "M", 24, "technician", "85711")]
    assert load_movielens(hundred_k_release).sha256 == data.sha256


def test_unknown_movies_are_kept_with_placeholders(csv_release: Path) -> None:
    write(csv_release, "ratings.csv", "userId,movieId,rating,timestamp\n1,1,4.0,1\n1,99,3.0,2\n2,99,2.0,3\n")
    data = load_movielens(csv_release)
    assert data.ratings.height == 3
    ghost = movie(data, 99)
    assert (ghost["title"], ghost["year"], ghost["genres"]) == ("Unknown movie 99", None, [])
    assert len(data.notes) == 1 and "1 movie ids used by 2 ratings" in data.notes[0]
    assert dict(data.movies.schema) == MOVIES_SCHEMA


def test_keep_last_duplicate_keeps_the_later_row(csv_release: Path) -> None:
    write(csv_release, "ratings.csv",
          "userId,movieId,rating,timestamp\n1,1,4.0,1\n1,2,3.0,2\n1,1,2.5,3\n1,1,1.0,4\n")
    data = load_movielens(csv_release, LoadOptions(keep_last_duplicate=True))
    assert data.ratings.rows() == [(1, 2, 3.0, 2), (1, 1, 1.0, 4)]
    assert any("2 duplicate (user, movie) ratings" in note for note in data.notes)
