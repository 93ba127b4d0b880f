"""Bad input: each case is a DataError naming the file (and line), and `data info` exits 2."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from latentlens.build.data.errors import DataError
from latentlens.build.data.loader import load_movielens
from latentlens.cli import main
from tests.data.conftest import write

HEADER = "userId,movieId,rating,timestamp\n"


def fails(directory: Path, capsys: pytest.CaptureFixture[str], file: str | None, line: int | None,
          *fragments: str) -> DataError:
    """Assert the loader's error (file, line, message) and the CLI's exit code and stderr."""
    with pytest.raises(DataError) as caught:
        load_movielens(directory)
    err = caught.value
    if file is not None:
        assert err.path.name == file
    assert err.line == line
    for fragment in fragments:
        assert fragment in err.problem
    capsys.readouterr()
    assert main(["data", "info", str(directory)]) == 2
    stderr = capsys.readouterr().err
    assert str(err) in stderr
    if file is not None:
        assert f"{file}:{line}:" in stderr if line is not None else file in stderr
    return err


def test_missing_directory(tmp_path: Path, capsys) -> None:
    fails(tmp_path / "nowhere", capsys, "nowhere", None, "no such directory")


def test_missing_required_file(csv_release: Path, capsys) -> None:
    (csv_release / "movies.csv").unlink()
    fails(csv_release, capsys, "movies.csv", None, "required file movies.csv is missing")


def test_unknown_layout_names_what_was_found(tmp_path: Path, capsys) -> None:
    write(tmp_path / "odd", "notes.txt", "hello\n")
    write(tmp_path / "odd", "scores.parquet", b"PAR1")
    fails(tmp_path / "odd", capsys, "odd", None, "unknown MovieLens layout", "notes.txt, scores.parquet")


def test_wrong_header(csv_release: Path, capsys) -> None:
    write(csv_release, "ratings.csv", "user,movie,rating,timestamp\n1,1,4.0,1\n")
    fails(csv_release, capsys, "ratings.csv", 1,
          "expected userId,movieId,rating,timestamp", "found user,movie,rating,timestamp")


def test_missing_header_column(csv_release: Path, capsys) -> None:
    write(csv_release, "movies.csv", "movieId,title\n1,Heat (1995)\n")
    fails(csv_release, capsys, "movies.csv", 1, "expected movieId,title,genres", "found movieId,title")


def test_non_numeric_id(csv_release: Path, capsys) -> None:
    write(csv_release, "ratings.csv", HEADER + "1,1,4.0,1\n1,2,3.0,2\nabc,3,2.0,3\n")
    fails(csv_release, capsys, "ratings.csv", 4, "user_id", "'abc'", "not a valid integer")


def test_non_numeric_rating(csv_release: Path, capsys) -> None:
    write(csv_release, "ratings.csv", HEADER + "1,1,4.0,1\n1,2,four,2\n")
    fails(csv_release, capsys, "ratings.csv", 3, "rating", "'four'", "not a valid number")


def test_non_numeric_id_in_dat_file(ten_m_release: Path, capsys) -> None:
    write(ten_m_release, "ratings.dat", "1::122::5::838985046\n1::x1::4.5::838983525\n")
    fails(ten_m_release, capsys, "ratings.dat", 2, "movie_id", "'x1'")


def test_rating_outside_scale(csv_release: Path, capsys) -> None:
    write(csv_release, "ratings.csv", HEADER + "1,1,4.0,1\n1,2,5.5,2\n")
    fails(csv_release, capsys, "ratings.csv", 3, "rating 5.5 is not on the scale 0.5..5")


def test_rating_off_step(csv_release: Path, capsys) -> None:
    write(csv_release, "ratings.csv", HEADER + "1,1,4.0,1\n1,2,3.0,2\n2,1,3.7,3\n")
    fails(csv_release, capsys, "ratings.csv", 4, "rating 3.7", "steps of 0.5")


def test_zero_rating_on_hundred_k_scale(hundred_k_release: Path, capsys) -> None:
    write(hundred_k_release, "u.data", "196\t1\t3\t881250949\n186\t2\t0\t891717742\n")
    fails(hundred_k_release, capsys, "u.data", 2, "rating 0 is not on the scale 1..5")


def test_duplicate_pairs_report_count_and_first_line(csv_release: Path, capsys) -> None:
    write(csv_release, "ratings.csv", HEADER + "1,1,4.0,1\n1,2,3.0,2\n2,1,3.0,3\n1,2,1.0,4\n1,1,2.0,5\n1,1,2.5,6\n")
    fails(csv_release, capsys, "ratings.csv", 5, "3 duplicate (user, movie) ratings", "user 1, movie 2")


def test_header_only_ratings_file(csv_release: Path, capsys) -> None:
    write(csv_release, "ratings.csv", HEADER)
    fails(csv_release, capsys, "ratings.csv", None, "empty ratings file")


def test_zero_byte_ratings_file(csv_release: Path, capsys) -> None:
    write(csv_release, "ratings.csv", b"")
    fails(csv_release, capsys, "ratings.csv", None, "empty file (0 bytes)")


def test_invalid_utf8_in_csv_text(csv_release: Path, capsys) -> None:
    write(csv_release, "movies.csv", b"movieId,title,genres\n1,Heat (1995),Action\n2,Caf\xe9 (2001),Drama\n")
    fails(csv_release, capsys, "movies.csv", 3, "invalid UTF-8")


def test_invalid_utf8_in_ten_m_movies_is_not_guessed_latin1(ten_m_release: Path, capsys) -> None:
    write(ten_m_release, "movies.dat", "122::Boomerang (1992)::Comedy\n185::Net, The (1995)::Action\n"
                                       "186::Amélie (2001)::Comedy\n", encoding="latin-1")
    fails(ten_m_release, capsys, "movies.dat", 3, "invalid UTF-8")


def test_truncated_last_line(csv_release: Path, capsys) -> None:
    write(csv_release, "ratings.csv", HEADER + "1,1,4.0,964982703\n1,2,3.5")
    fails(csv_release, capsys, "ratings.csv", 3, "truncated last line")


def test_missing_value_mid_file(csv_release: Path, capsys) -> None:
    write(csv_release, "ratings.csv", HEADER + "1,1,4.0,1\n1,2,,2\n2,1,3.0,3\n")
    fails(csv_release, capsys, "ratings.csv", 3, "missing value for rating")


def test_duplicate_movie_id_in_movies_file(csv_release: Path, capsys) -> None:
    write(csv_release, "movies.csv", "movieId,title,genres\n1,A (2000),Drama\n2,B (2001),Drama\n1,C (2002),Drama\n")
    fails(csv_release, capsys, "movies.csv", 4, "movie id 1 listed twice")


def test_failure_leaves_the_directory_untouched(csv_release: Path, capsys) -> None:
    write(csv_release, "ratings.csv", HEADER + "1,1,9.0,1\n")
    before = sorted((p.name, p.stat().st_size) for p in csv_release.iterdir())
    fails(csv_release, capsys, "ratings.csv", 2, "rating 9")
    assert sorted((p.name, p.stat().st_size) for p in csv_release.iterdir()) == before


def test_unknown_movies_are_warned_about(csv_release: Path, caplog) -> None:
    write(csv_release, "ratings.csv", HEADER + "1,1,4.0,1\n1,77,3.0,2\n")
    with caplog.at_level(logging.WARNING, logger="latentlens"):
        data = load_movielens(csv_release)
    assert any("missing from movies.csv" in r.getMessage() for r in caplog.records)
    assert data.movies.filter(data.movies["movie_id"] == 77)["title"].to_list() == ["Unknown movie 77"]


def test_cli_keep_last_duplicate_flag(csv_release: Path, capsys) -> None:
    write(csv_release, "ratings.csv", HEADER + "1,1,4.0,1\n1,1,2.0,2\n")
    assert main(["data", "info", str(csv_release), "--json", "--keep-last-duplicate"]) == 0
    out = capsys.readouterr().out
    assert '"ratings": 1' in out and "1 duplicate (user, movie) ratings" in out


def test_too_many_fields(csv_release: Path, capsys) -> None:
    write(csv_release, "ratings.csv", HEADER + "1,1,4.0,1\n1,2,3.0,2,9\n")
    fails(csv_release, capsys, "ratings.csv", 3, "expected 4 fields")


def test_unquoted_comma_in_title(csv_release: Path, capsys) -> None:
    write(csv_release, "movies.csv", 'movieId,title,genres\n1,"Fine, A (2000)",Drama\n2,Broken, The (2001),Drama\n')
    fails(csv_release, capsys, "movies.csv", 3, "expected 3 fields")
