"""The loader's rules on Spark: the same errors (file, line, problem) as the in-process loader,
the `::` and Parquet layouts, and what keep_last_duplicate and unknown movies do."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from latentlens.build.data.errors import DataError
from latentlens.build.data.loader import LoadOptions, load_movielens
from latentlens.build.engines.spark.io import read_release

MOVIES = "movieId,title,genres\n1,Toy Story (1995),Animation|Children\n2,Heat (1995),Action\n3,Up (2009)," \
         "Animation\n"


def _dataset(root: Path, ratings: str, movies: str = MOVIES) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "ratings.csv").write_text(ratings)
    (root / "movies.csv").write_text(movies)
    return root


def _rows(n: int) -> list[str]:
    return [f"{1 + i // 3},{1 + i % 3},{(i % 10 + 1) / 2:g},{1000 + i}" for i in range(n)]


def _both_fail(spark, path: Path, tmp_path: Path, keep_last: bool = False) -> str:
    with pytest.raises(DataError) as in_process:
        load_movielens(path, LoadOptions(keep_last_duplicate=keep_last))
    with pytest.raises(DataError) as on_spark:
        read_release(spark, path, keep_last, tmp_path)
    assert str(on_spark.value) == str(in_process.value)
    return str(on_spark.value)


@pytest.fixture
def small_splits(spark):
    """Files of a few KB read as several partitions, so line numbers cross partition borders."""
    spark.conf.set("spark.sql.files.maxPartitionBytes", "2048")
    spark.conf.set("spark.sql.files.openCostInBytes", "0")
    yield
    spark.conf.unset("spark.sql.files.maxPartitionBytes")
    spark.conf.unset("spark.sql.files.openCostInBytes")


def test_a_value_that_is_not_a_number_names_its_line_across_partitions(spark, tmp_path, small_splits) -> None:
    rows = _rows(1500)
    rows[1200] = "401,1,x,5"
    path = _dataset(tmp_path / "d", "userId,movieId,rating,timestamp\n" + "\n".join(rows) + "\n")
    assert spark.read.text(str(path / "ratings.csv")).rdd.getNumPartitions() > 3
    message = _both_fail(spark, path, tmp_path)
    assert message.endswith("ratings.csv:1202: rating: 'x' is not a valid number")


def test_off_scale_and_duplicates_name_their_lines(spark, tmp_path, small_splits) -> None:
    rows = _rows(900)
    rows[700] = "300,2,7,5"
    path = _dataset(tmp_path / "scale", "userId,movieId,rating,timestamp\n" + "\n".join(rows) + "\n")
    assert _both_fail(spark, path, tmp_path).endswith(":702: rating 7 is not on the scale 0.5..5 in steps of 0.5")
    rows = _rows(900)
    rows[800] = rows[5]
    path = _dataset(tmp_path / "dup", "userId,movieId,rating,timestamp\n" + "\n".join(rows) + "\n")
    assert ":802: 1 duplicate (user, movie) ratings" in _both_fail(spark, path, tmp_path)


@pytest.mark.parametrize("content, fragment", [
    ("user,movie,rating,timestamp\n1,1,4,5\n", ":1: wrong header"),
    ("userId,movieId,rating,timestamp\n1,1,4,5\n2,,4,5\n", ":3: missing value for movie_id"),
    ("userId,movieId,rating,timestamp\n1,1,4,5\n2,1,4", ":3: truncated last line"),
    ("userId,movieId,rating,timestamp\n", "empty ratings file"),
    ("userId,movieId,rating,timestamp\n1,1,4.5,5\n1,1.5,4,6\n", ":3: movie_id: '1.5' is not a valid integer"),
])
def test_the_loaders_messages(spark, tmp_path, content, fragment) -> None:
    path = _dataset(tmp_path / "bad", content)
    assert fragment in _both_fail(spark, path, tmp_path)


def test_missing_directory_and_unknown_layout(spark, tmp_path) -> None:
    with pytest.raises(DataError, match="no such directory"):
        read_release(spark, tmp_path / "nope", False, tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="unknown MovieLens layout"):
        read_release(spark, tmp_path / "empty", False, tmp_path)


def _collect(release) -> list[tuple]:
    return sorted(tuple(r) for r in release.ratings.select("user_id", "movie_id", "rating", "timestamp").collect())


def test_keep_last_duplicate_and_unknown_movies_as_in_process(spark, tmp_path) -> None:
    content = "userId,movieId,rating,timestamp\n1,1,4,5\n1,2,3,6\n1,1,2,7\n2,9,5,8\n"
    path = _dataset(tmp_path / "d", content)
    release = read_release(spark, path, True, tmp_path)
    ref = load_movielens(path, LoadOptions(keep_last_duplicate=True))
    assert _collect(release) == sorted(ref.ratings.select("user_id", "movie_id", "rating", "timestamp").rows())
    assert release.notes == ref.notes
    assert release.movies.equals(ref.movies)


def test_dat_and_parquet_layouts_read_the_same_ratings(spark, tmp_path) -> None:
    rows = _rows(60)
    csv = _dataset(tmp_path / "csv", "userId,movieId,rating,timestamp\n" + "\n".join(rows) + "\n")
    dat = tmp_path / "dat"
    dat.mkdir()
    (dat / "ratings.dat").write_text("".join(r.replace(",", "::") + "\n" for r in rows))
    (dat / "movies.dat").write_text("1::Toy Story (1995)::Animation|Children\n2::Heat (1995)::Action\n"
                                    "3::Up (2009)::Animation\n")
    parquet = tmp_path / "parquet"
    parquet.mkdir()
    pl.read_csv(csv / "ratings.csv").write_parquet(parquet / "ratings.parquet")
    (parquet / "movies.csv").write_text(MOVIES)
    want = _collect(read_release(spark, csv, False, tmp_path))
    assert len(want) == 60
    for path, layout in ((dat, "dat"), (parquet, "parquet")):
        release = read_release(spark, path, False, tmp_path)
        assert release.layout == layout
        assert _collect(release) == want
        assert release.movies["title"].to_list() == ["Toy Story (1995)", "Heat (1995)", "Up (2009)"]


def test_parquet_without_a_column_is_a_clear_error(spark, tmp_path) -> None:
    root = tmp_path / "p"
    root.mkdir()
    pl.DataFrame({"userId": [1], "movieId": [1], "rating": [4.0]}).write_parquet(root / "ratings.parquet")
    with pytest.raises(DataError, match="missing column timestamp"):
        read_release(spark, root, False, tmp_path)


def _hundred_k(root: Path, n_ratings: int = 3000) -> Path:
    """An ML-100K-layout release cut from the embedded data: whole stars, genre flags, Latin-1 u.item."""
    from tests.conftest import EMBEDDED
    from tests.data.conftest import U_GENRE, u_item_line, write

    ratings = pl.read_csv(EMBEDDED / "ratings.csv", n_rows=n_ratings)
    stars = ratings["rating"].ceil().cast(pl.Int32)
    write(root, "u.data", "".join(f"{u}\t{m}\t{s}\t{t}\n" for u, m, s, t in
                                  zip(ratings["userId"], ratings["movieId"], stars, ratings["timestamp"], strict=True)))
    movies = pl.read_csv(EMBEDDED / "movies.csv").filter(pl.col("movieId").is_in(ratings["movieId"].implode()))
    names = U_GENRE.split()
    index = {line.split("|")[0]: int(line.split("|")[1]) for line in names}
    lines = []
    for n, (movie, title, genres) in enumerate(movies.iter_rows()):
        if n == 5:
            continue  # one rated movie missing from u.item: a placeholder, as in-process
        flags = {index[g] for g in genres.split("|") if g in index} or {0}
        lines.append(u_item_line(movie, title.replace("|", "/"), "01-Jan-1995", flags))
    write(root, "u.item", "".join(lines), encoding="latin-1")
    write(root, "u.genre", U_GENRE)
    write(root, "u.user", "1|24|M|technician|85711\n")
    return root


def test_the_100k_layout_reads_as_in_process(spark, tmp_path, small_splits) -> None:
    path = _hundred_k(tmp_path / "ml-100k")
    release = read_release(spark, path, False, tmp_path)
    ref = load_movielens(path)
    assert release.layout == "100k" and release.rating_scale == ref.rating_scale == (1.0, 5.0)
    assert len(_collect(release)) == 3000
    assert _collect(release) == sorted(ref.ratings.select("user_id", "movie_id", "rating", "timestamp").rows())
    assert release.movies.equals(ref.movies)
    assert release.notes == ref.notes and "u.item" in release.notes[0]
    assert release.sha256 == ref.sha256


def _set_field(path: Path, line: int, field: int, value: str) -> None:
    lines = path.read_text().split("\n")
    fields = lines[line - 1].split("\t")
    fields[field] = value
    lines[line - 1] = "\t".join(fields)
    path.write_text("\n".join(lines))


@pytest.mark.parametrize("change, fragment", [
    (lambda d: _set_field(d / "u.data", line=250, field=2, value="4.5"),
     ":250: rating 4.5 is not on the scale 1..5 in steps of 1"),
    (lambda d: (d / "u.data").write_text("1\t2\t3\t4\n" * 700 + "1\tx\t3\t4\n"), ":701: movie_id: 'x' is not"),
    (lambda d: (d / "u.genre").unlink(), "required file u.genre is missing"),
    (lambda d: (d / "u.item").unlink(), "required file u.item is missing (100k layout)"),
])
def test_the_100k_layouts_errors_are_the_loaders(spark, tmp_path, small_splits, change, fragment) -> None:
    path = _hundred_k(tmp_path / "bad", n_ratings=400)
    change(path)
    assert fragment in _both_fail(spark, path, tmp_path)
