"""Hostile input files: each is a DataError with file, exact line and a bounded excerpt; exit 2."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

from latentlens.build.data.loader import load_movielens
from latentlens.build.data.tables import MAX_TAG_CHARS, MAX_TIMESTAMP, MAX_TITLE_CHARS
from latentlens.cli import main
from tests.data.conftest import write
from tests.data.test_loader_errors import HEADER, fails

MOVIES_HEADER = "movieId,title,genres\n"


def test_timestamp_past_year_9999_is_refused(csv_release: Path, capsys) -> None:
    write(csv_release, "ratings.csv", HEADER + f"1,1,4.0,1\n1,2,3.0,{MAX_TIMESTAMP + 1}\n")
    fails(csv_release, capsys, "ratings.csv", 3, "timestamp", str(MAX_TIMESTAMP + 1), "9999-12-31")


def test_timestamp_of_2_to_the_63_minus_1_is_refused_by_data_info_and_build(csv_release: Path, capsys,
                                                                           tmp_path: Path) -> None:
    write(csv_release, "ratings.csv", HEADER + f"1,1,4.0,1\n1,2,3.0,{2**63 - 1}\n")
    fails(csv_release, capsys, "ratings.csv", 3, "timestamp", "out of range")
    out = tmp_path / "out" / "a.duckdb"
    assert main(["build", "--data", str(csv_release), "--out", str(out), "--quick",
                 "--mlflow-uri", f"sqlite:///{tmp_path / 'mlflow.db'}"]) == 2
    err = capsys.readouterr().err
    assert "ratings.csv:3: timestamp" in err and "Traceback" not in err
    assert not out.exists()


def test_timestamp_in_tags_past_year_9999_is_refused(csv_release: Path, capsys) -> None:
    write(csv_release, "tags.csv", f"userId,movieId,tag,timestamp\n1,1,ok,5\n1,2,late,{MAX_TIMESTAMP + 1}\n")
    fails(csv_release, capsys, "tags.csv", 3, "timestamp", "out of range")


@pytest.mark.parametrize("row,column", [("0,1,4.0,1", "user_id"), ("-3,1,4.0,1", "user_id"),
                                        ("1,0,4.0,1", "movie_id"), ("1,-1,4.0,1", "movie_id")])
def test_user_or_movie_id_at_most_zero_is_refused(csv_release: Path, capsys, row: str, column: str) -> None:
    write(csv_release, "ratings.csv", HEADER + "1,1,4.0,1\n" + row + "\n")
    fails(csv_release, capsys, "ratings.csv", 3, column, "out of range", "ids are 1..")


def test_movie_id_zero_in_movies_file_is_refused(csv_release: Path, capsys) -> None:
    write(csv_release, "movies.csv", MOVIES_HEADER + "1,Heat (1995),Action\n0,Zero (2000),Drama\n")
    fails(csv_release, capsys, "movies.csv", 3, "movie_id: 0 is out of range")


def test_user_id_zero_in_dat_ratings_is_refused(ten_m_release: Path, capsys) -> None:
    write(ten_m_release, "ratings.dat", "1::122::5::838985046\n0::122::4.5::838983525\n")
    fails(ten_m_release, capsys, "ratings.dat", 2, "user_id: 0 is out of range")


def test_ratings_path_that_is_a_directory_is_reported_as_a_directory(csv_release: Path, capsys) -> None:
    (csv_release / "ratings.csv").unlink()
    (csv_release / "ratings.csv").mkdir()
    err = fails(csv_release, capsys, "ratings.csv", None, "is a directory")
    assert "missing" not in err.problem


def test_ratings_path_that_is_a_fifo_is_reported_as_a_fifo(csv_release: Path, capsys) -> None:
    (csv_release / "ratings.csv").unlink()
    os.mkfifo(csv_release / "ratings.csv")  # opening it to read would block: the loader must not
    err = fails(csv_release, capsys, "ratings.csv", None, "is a FIFO")
    assert "missing" not in err.problem


def test_ratings_path_that_is_a_device_is_reported_as_a_device(csv_release: Path, capsys) -> None:
    (csv_release / "ratings.csv").unlink()
    (csv_release / "ratings.csv").symlink_to("/dev/zero")  # endless: reading it would never finish
    err = fails(csv_release, capsys, "ratings.csv", None, "is a device")
    assert "missing" not in err.problem


def test_ratings_path_that_is_a_symlink_loop_is_reported_as_a_loop(csv_release: Path, capsys) -> None:
    (csv_release / "ratings.csv").unlink()
    (csv_release / "ratings.csv").symlink_to("ratings.csv")
    err = fails(csv_release, capsys, "ratings.csv", None, "symlink loop")
    assert "missing" not in err.problem


def test_optional_file_that_is_a_directory_is_reported_not_skipped(csv_release: Path, capsys) -> None:
    (csv_release / "tags.csv").unlink()
    (csv_release / "tags.csv").mkdir()
    fails(csv_release, capsys, "tags.csv", None, "is a directory")


def test_data_directory_that_is_a_symlink_loop_is_reported_as_a_loop(tmp_path: Path, capsys) -> None:
    (tmp_path / "loop").symlink_to("loop")
    err = fails(tmp_path / "loop", capsys, "loop", None, "symlink loop")
    assert "no such directory" not in err.problem


def test_ten_megabyte_line_is_not_echoed_whole(csv_release: Path, capsys) -> None:
    write(csv_release, "ratings.csv", HEADER + "1,1,4.0,1\n1," + "x" * 10_000_000 + ",4.0,1\n")
    err = fails(csv_release, capsys, "ratings.csv", 3, "movie_id", "not a valid integer", "10,000,000 characters")
    assert len(str(err)) < 400
    capsys.readouterr()
    main(["data", "info", str(csv_release)])
    assert len(capsys.readouterr().err) < 1_000


def test_ten_megabyte_header_is_not_echoed_whole(csv_release: Path, capsys) -> None:
    write(csv_release, "ratings.csv", "y" * 10_000_000 + "\n1,1,4.0,1\n")
    err = fails(csv_release, capsys, "ratings.csv", 1, "wrong header")
    assert len(str(err)) < 400


def test_gzip_file_is_named_as_gzip_and_its_bytes_are_not_printed(csv_release: Path, capsys) -> None:
    write(csv_release, "ratings.csv", gzip.compress((HEADER + "1,1,4.0,1\n").encode()))
    err = fails(csv_release, capsys, "ratings.csv", 1, "looks like gzip")
    assert str(err).isprintable() and "\ufffd" not in str(err)


def test_gzip_dat_file_is_named_as_gzip(ten_m_release: Path, capsys) -> None:
    write(ten_m_release, "movies.dat", gzip.compress(b"122::Boomerang (1992)::Comedy\n"))
    fails(ten_m_release, capsys, "movies.dat", 1, "looks like gzip")


def test_whitespace_around_a_number_keeps_the_line_number(csv_release: Path, capsys) -> None:
    write(csv_release, "ratings.csv", HEADER + "1,1,4.0,1\n1,2,3.0,2\n2, 3 ,4.0,3\n")
    fails(csv_release, capsys, "ratings.csv", 4, "movie_id", "' 3 '", "whitespace")


def test_newline_inside_a_quoted_number_keeps_the_line_number(csv_release: Path, capsys) -> None:
    write(csv_release, "ratings.csv", HEADER + '1,1,4.0,1\n2,"3\n",4.0,3\n')
    fails(csv_release, capsys, "ratings.csv", 3, "movie_id", "newline")


def test_error_after_a_quoted_title_with_an_embedded_newline_names_the_exact_line(csv_release: Path, capsys) -> None:
    # line 2 holds the start of a two-line title, so the bad id sits on line 5, not 4
    write(csv_release, "movies.csv", MOVIES_HEADER + '1,"Two\nLines (1995)",Drama\n2,Heat (1995),Action\nx,Bad,Drama\n')
    fails(csv_release, capsys, "movies.csv", 5, "movie_id", "'x'")


def test_missing_value_after_a_quoted_title_with_an_embedded_newline_names_the_exact_line(
        csv_release: Path, capsys) -> None:
    write(csv_release, "movies.csv", MOVIES_HEADER + '1,"Two\nLines (1995)",Drama\n2,Heat (1995),Action\n,Bad,Drama\n')
    fails(csv_release, capsys, "movies.csv", 5, "missing value for movie_id")


def test_duplicate_movie_after_a_title_with_an_embedded_newline_names_the_exact_line(csv_release: Path,
                                                                                     capsys) -> None:
    write(csv_release, "movies.csv",
          MOVIES_HEADER + '1,"Two\nLines (1995)",Drama\n2,Heat (1995),Action\n1,Again,Drama\n')
    fails(csv_release, capsys, "movies.csv", 5, "movie id 1 listed twice")


def test_title_over_the_size_limit_is_refused_with_file_and_line(csv_release: Path, capsys) -> None:
    long_title = "T" * (MAX_TITLE_CHARS + 1)
    write(csv_release, "movies.csv", MOVIES_HEADER + f"1,Heat (1995),Action\n2,{long_title},Drama\n")
    err = fails(csv_release, capsys, "movies.csv", 3, "title is", f"over the limit of {MAX_TITLE_CHARS:,}")
    assert len(str(err)) < 400


def test_ten_megabyte_title_is_refused_with_file_and_line(csv_release: Path, capsys) -> None:
    write(csv_release, "movies.csv", MOVIES_HEADER + f'1,"{"x" * 10_000_000}",Drama\n')
    err = fails(csv_release, capsys, "movies.csv", 2, "title is 10,000,000 characters")
    assert len(str(err)) < 400


def test_title_at_the_size_limit_is_accepted(csv_release: Path) -> None:
    title = "T" * MAX_TITLE_CHARS
    write(csv_release, "movies.csv", MOVIES_HEADER + f"1,{title},Action\n2,Heat (1995),Drama\n3,Doc,Drama\n")
    assert load_movielens(csv_release).movies.filter(title=title).height == 1


def test_tag_over_the_size_limit_is_refused_with_file_and_line(csv_release: Path, capsys) -> None:
    tag = "g" * (MAX_TAG_CHARS + 1)
    write(csv_release, "tags.csv", f"userId,movieId,tag,timestamp\n1,1,ok,5\n1,2,ok,6\n2,3,{tag},7\n")
    fails(csv_release, capsys, "tags.csv", 4, "tag is", f"over the limit of {MAX_TAG_CHARS:,}")


def test_title_over_the_size_limit_in_dat_file_is_refused(ten_m_release: Path, capsys) -> None:
    write(ten_m_release, "movies.dat", f"122::{'T' * (MAX_TITLE_CHARS + 1)}::Comedy\n")
    fails(ten_m_release, capsys, "movies.dat", 1, "title is")


def test_nul_in_a_title_near_the_top_of_movies_csv_is_refused_at_its_line(csv_release: Path, capsys) -> None:
    write(csv_release, "movies.csv", MOVIES_HEADER + "1,Heat (1995),Action\n2,Bad\x00Title (2000),Drama\n")
    fails(csv_release, capsys, "movies.csv", 3, "NUL")


def test_nul_in_a_title_deep_in_movies_csv_is_refused_with_file_and_line(csv_release: Path, capsys,
                                                                         tmp_path: Path) -> None:
    rows = "".join(f"{i},Movie number {i} (1999),Drama\n" for i in range(1, 100))
    write(csv_release, "movies.csv", MOVIES_HEADER + rows + '100,"Quoted\x00 Title (2000)",Drama\n')
    fails(csv_release, capsys, "movies.csv", 101, "title", "NUL character")
    out = tmp_path / "out" / "a.duckdb"
    assert main(["build", "--data", str(csv_release), "--out", str(out), "--quick",
                 "--mlflow-uri", f"sqlite:///{tmp_path / 'mlflow.db'}"]) == 2
    err = capsys.readouterr().err
    assert "movies.csv:101: title" in err and "Traceback" not in err
    assert not out.exists()


def test_nul_in_a_tag_is_refused_with_file_and_line(csv_release: Path, capsys) -> None:
    rows = "".join(f"1,1,tag{i},5\n" for i in range(60))
    write(csv_release, "tags.csv", "userId,movieId,tag,timestamp\n" + rows + "1,2,bad\x00tag,6\n")
    fails(csv_release, capsys, "tags.csv", 62, "tag", "NUL character")


def test_bidi_controls_are_stripped_from_display_titles_with_a_count_and_joiners_kept(
        csv_release: Path, caplog: pytest.LogCaptureFixture) -> None:
    write(csv_release, "movies.csv", MOVIES_HEADER
          + "1,\u202eHeat\u202c (1995),Action\n"                       # right-to-left override, popped
          + "2,\u2067Godfather\u2069 (1972),Drama\n"                   # an isolate
          + "3,\u202a\u202b\u202d\u2066\u2068 (1980),Drama\n"          # nothing but controls: Untitled
          + "4,\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645 (2001),Drama\n")  # a Persian ZWNJ stays
    with caplog.at_level("WARNING"):
        data = load_movielens(csv_release)
    shown = dict(zip(data.movies["movie_id"].to_list(), data.movies["display_title"].to_list(), strict=True))
    assert shown[1] == "Heat" and shown[2] == "Godfather" and shown[3] == "Untitled"
    assert shown[4] == "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"
    assert data.movies.filter(data.movies["movie_id"] == 1)["title"][0] == "\u202eHeat\u202c (1995)"  # as filed
    assert any("3 titles hold bidirectional text controls" in r.getMessage() for r in caplog.records)
